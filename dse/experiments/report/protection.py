"""Protection tables: every preset at the Chen rates, imperfect tests, tolerated rates, pruning, ablations,
clustered faults (README.md and docs/tolerance.md)."""
from __future__ import annotations

import functools
import math

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.experiments.report.common import (CHEN2015, DIGITS, Setting, cached_eval, cached_workload, crossbars_cell,
                                           ideal_run, preset_named, scenario)


README_SCHEMES = [("none", "none"), ("prune 30 %", "prune"),
                  ("paper's three parts (`zero-space-paper`)", "zero-space-paper"),
                  ("paper + its space budget + mean vote (`zero-space-blind`)", "zero-space-blind"),
                  ("spare columns (test-aware pick)", "spare-cols"), ("remap", "remap"),
                  ("compensation alone", "compensate"), ("**zero-space** (three parts + compensation)", "zero-space")]
SECTIONS = ((False, "fault-map-free (any chip as fabricated)"),
            (True, "needs a tested fault map (every chip's stuck cells known before programming)"))


def readme_schemes(setting: Setting) -> str:
    """Every preset at the Chen rates on both digits workloads: accuracy, crossbars, conversions; split by
    whether the preset needs the chip's tested fault map, with the best of each named."""
    def result(name, preset):
        faults = scenario(setting, **CHEN2015)
        return cached_eval(name, HardwareConfig(), faults, preset_named(preset), setting.max_test)
    rows = ["| scheme | mlp-digits accuracy | crossbars | ADC conversions (on copies) | cnn-digits accuracy "
            "| crossbars | ADC conversions (on copies) |", "|---|---|---|---|---|---|---|"]
    ideal = [f"{result(n, 'none').ideal_accuracy:.3f} / {result(n, 'prune').ideal_accuracy:.3f} | | " for n in DIGITS]
    rows.append("| fault-free ideal (unpruned / pruned) | " + " | ".join(ideal) + " |")
    best = []
    for needs, title in SECTIONS:
        rows.append(f"| *{title}* | | | | | | |")
        members = [(label, preset) for label, preset in README_SCHEMES if preset_named(preset).needs_fault_map == needs]
        for label, preset in members:
            cells = []
            for name in DIGITS:
                r = result(name, preset)
                cells.append(f"{r.accuracy_mean:.3f} ± {r.accuracy_ci95:.3f} | {crossbars_cell(r)} "
                             f"| {r.adc_conversions} ({r.extra_adc_conversions})")
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
        winners = []
        for name in DIGITS:
            preset = max((p for _, p in members), key=lambda p: result(name, p).accuracy_mean)
            winners.append(f"{name} `{preset}` {result(name, preset).accuracy_mean:.3f}")
        best.append(f"{'with a tested fault map' if needs else 'fault-map-free'}: " + ", ".join(winners))
    return "\n".join(rows) + "\n\nBest " + "; best ".join(best) + "."


# Fault-map-aware presets under an imperfect test, against the best fault-map-free one.
ESCAPES = (0.0, 0.01, 0.05, 0.2)
POST_TEST = (0.001, 0.01)
BLIND = "zero-space-blind"


def _imperfect(setting: Setting, presets: list[str]) -> str:
    import numpy as np  # here, not at the top: dse report --help lists the tables without numpy

    from dse.experiments.tolerance import crossing

    header = ("| workload | preset | " + " | ".join(f"escapes {100 * e:g} %" for e in ESCAPES)
              + " | stops beating blind at escapes | " + " | ".join(f"post-test {100 * p:g} %" for p in POST_TEST)
              + " | stops beating blind at post-test |")
    rows = [header, "|---" * (4 + len(ESCAPES) + len(POST_TEST)) + "|"]
    grid_escapes = ESCAPES + (0.5, 1.0)  # 100 % escapes: the repair logic sees nothing, so a crossing exists
    grid_post = (0.0,) + POST_TEST + (0.03, 0.1)

    def acc(name, preset, **fields):
        faults = scenario(setting, **CHEN2015).replace(**fields)
        return cached_eval(name, HardwareConfig(), faults, preset_named(preset), setting.max_test).accuracy_mean

    def percent(rate: float) -> str:
        return "never" if math.isinf(rate) else "never ahead" if rate == 0 else f"{100 * rate:.2g} %"

    for name in DIGITS:
        for preset in [BLIND] + presets:
            escapes = [acc(name, preset, test_escape_rate=e) for e in grid_escapes]
            post = [acc(name, preset, post_test_rate=p) for p in grid_post]
            if preset == BLIND:
                blind_escapes, blind_post = escapes[0], np.array(post)
                where = ["(reference)", "(reference)"]
            else:
                where = [percent(crossing(grid_escapes, np.array(escapes) - blind_escapes, 0.0)),
                         percent(crossing(grid_post, np.array(post) - blind_post, 0.0))]
            cells = [f"{a:.3f}" for a in escapes[:len(ESCAPES)]] + [where[0]] \
                + [f"{a:.3f}" for a in post[1:1 + len(POST_TEST)]] + [where[1]]
            rows.append(f"| {name} | `{preset}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def readme_imperfect(setting: Setting) -> str:
    """The two strongest fault-map-aware presets against an imperfect test, beside the best fault-map-free one."""
    return _imperfect(setting, ["compensate", "zero-space"])


def docs_imperfect(setting: Setting) -> str:
    """docs/tolerance.md: every fault-map-aware preset against an imperfect test."""
    return _imperfect(setting, ["spare-cols", "remap", "compensate", "zero-space"])


@functools.lru_cache(maxsize=None)
def _curve(name: str, preset: str, n_chips: int, max_test: int | None):
    """One fault-rate search per design per process (``dse tolerance`` runs the same one)."""
    from dse.experiments.tolerance import tolerance_rates
    return tolerance_rates(cached_workload(name), HardwareConfig(), preset_named(preset), n_chips=n_chips,
                           max_test=max_test)


def _rate_curves(setting: Setting, presets):
    return {(name, preset): _curve(name, preset, setting.n_chips, setting.max_test)
            for name in DIGITS for preset in presets} if setting.rates else None


def ratio_cell(curve, base, drop: float) -> str:
    """``4.4x (2.1-9.0x)``: the ratio of tolerated rates and its 95 % bootstrap interval over chips."""
    from dse.experiments.tolerance import ratio_interval

    def times(value: float) -> str:
        return "inf" if math.isinf(value) else f"{value:.2g}x" if value < 10 else f"{value:.0f}x"
    if base.rates[drop] <= 0 or math.isinf(curve.rates[drop]):
        return "n/a"
    low, high = ratio_interval(curve, base, drop)
    return f"{times(curve.rates[drop] / base.rates[drop])} ({times(low)}-{times(high)})"


def rate_cell(curve, drop: float) -> str:
    from dse.experiments.tolerance import bootstrap_rates, interval

    def percent(value: float) -> str:
        return "inf" if math.isinf(value) else f"{100 * value:.2g} %" if value < 0.1 else f"{100 * value:.1f} %"
    low, high = interval(bootstrap_rates(curve, drop))
    return f"{percent(curve.rates[drop])} ({percent(low)}-{percent(high)})"


README_RATE_SCHEMES = [("none", "none"), ("paper's three parts", "zero-space-paper"),
                       ("strongest fault-map-free (`zero-space-blind`)", "zero-space-blind"),
                       ("compensation alone", "compensate"), ("zero-space", "zero-space")]


def readme_rates(setting: Setting) -> str:
    """Tolerated total fault rate (1 and 5 points below the design's own fault-free accuracy), with 95 %
    bootstrap intervals of the rates and of their ratio to no protection's."""
    curves = _rate_curves(setting, [p for _, p in README_RATE_SCHEMES])
    rows = ["| scheme | needs fault map | mlp −1 pt | mlp −5 pt | cnn −1 pt | cnn −5 pt |", "|---|---|---|---|---|---|"]
    for label, preset in README_RATE_SCHEMES:
        cells = []
        for name in DIGITS:
            for drop in (0.01, 0.05):
                if curves is None:
                    cells.append("not run")
                    continue
                curve, base = curves[name, preset], curves[name, "none"]
                cells.append(rate_cell(curve, drop) if preset == "none" else
                             f"{rate_cell(curve, drop)}; {ratio_cell(curve, base, drop)}")
        needs = "yes" if preset_named(preset).needs_fault_map else "no"
        rows.append(f"| {label} | {needs} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def docs_rates(setting: Setting) -> str:
    """docs/tolerance.md: tolerated rates of six schemes with ideal accuracy, crossbars and 95 % intervals."""
    presets = ["none", "prune", "zero-space-paper", "zero-space-blind", "compensate", "zero-space"]
    curves = _rate_curves(setting, presets)
    rows = ["| workload | scheme | needs fault map | ideal | crossbars | rate at -1 point | rate at -5 points "
            "| ratio -1 pt | ratio -5 pt |", "|---|---|---|---|---|---|---|---|---|"]
    for name in DIGITS:
        for preset in presets:
            needs = "yes" if preset_named(preset).needs_fault_map else "no"
            if curves is None:
                rows.append(f"| {name} | {preset} | {needs} | not run | | | | | |")
                continue
            curve, base = curves[name, preset], curves[name, "none"]
            ratios = ["1x" if preset == "none" else ratio_cell(curve, base, d) for d in (0.01, 0.05)]
            rows.append(f"| {name} | {preset} | {needs} | {curve.ideal:.3f} | {curve.crossbars} | {rate_cell(curve, 0.01)} "
                        f"| {rate_cell(curve, 0.05)} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(rows)


def docs_prune(setting: Setting) -> str:
    """docs/tolerance.md: pruning alone, both methods, 30 and 50 %: float and fault-free hardware accuracy."""
    from dse.mapping.protected import pruned_workload
    rows = ["| workload | method | rows / cols pruned | float accuracy | ideal (fault-free crossbars) | crossbars |",
            "|---|---|---|---|---|---|"]
    for name in DIGITS:
        dense = ideal_run(name, HardwareConfig(), setting)
        rows.append(f"| {name} | dense | 0 / 0 | {cached_workload(name).float_accuracy:.3f} "
                    f"| {dense.ideal_accuracy:.3f} | {dense.crossbars} |")
        for fraction in (0.3, 0.5):
            for method in ("magnitude", "gates"):
                protection = Protection(row_prune=fraction, col_prune=fraction, prune_method=method)
                pruned, _, _ = pruned_workload(cached_workload(name), protection)
                r = ideal_run(name, HardwareConfig(), setting, protection)
                rows.append(f"| {name} | {method} | {100 * fraction:.0f} % / {100 * fraction:.0f} % | {pruned.float_accuracy:.3f} "
                            f"| {r.ideal_accuracy:.3f} | {r.crossbars} |")
    return "\n".join(rows)


_PRUNE = dict(row_prune=0.3, col_prune=0.3, prune_method="gates")
_DUP = dict(dup_copies=3, dup_slices=2)
# (label, protection): the comparison first, then the ablation of the zero-space scheme.
ABLATION: list[tuple[str, Protection | str]] = [
    ("none", "none"), ("spare columns (1 MSB copy, test-aware)", "spare-cols"), ("remap rows", "remap"),
    ("prune 30 %", "prune"),
    ("prune + dup (median)", Protection(**_PRUNE, **_DUP, vote="median")),
    ("prune + dup + MSB embed (median) = paper", "zero-space-paper"),
    ("paper + unpruned budget (median)", Protection(**_PRUNE, **_DUP, msb_embed=1, vote="median", dup_budget="unpruned")),
    ("paper + mean vote", Protection(**_PRUNE, **_DUP, msb_embed=1, vote="mean")),
    ("paper + unpruned budget + mean = `zero-space-blind`", "zero-space-blind"),
    ("prune + dup + MSB embed (test-aware)", Protection(**_PRUNE, **_DUP, msb_embed=1, vote="test-aware")),
    ("compensate alone", "compensate"),
    ("prune + compensate", Protection(**_PRUNE, compensate=True)),
    ("MSB embed + compensate (mean)", Protection(msb_embed=1, vote="mean", compensate=True)),
    ("prune + MSB embed + compensate (mean)", Protection(**_PRUNE, msb_embed=1, vote="mean", compensate=True)),
    ("prune + dup + MSB embed + test-aware + compensate",
     Protection(**_PRUNE, **_DUP, msb_embed=1, vote="test-aware", compensate=True)),
    ("**zero-space** (prune + dup + MSB embed + mean + compensate)", "zero-space"),
]


def ablation(name: str):
    def build(setting: Setting) -> str:
        faults = scenario(setting, **CHEN2015)
        rows = ["| scheme | fault map | ideal | accuracy (± 95 % CI) | below | crossbars | spare | ADC conv. | copies "
                "| vs prune |", "|---|---|---|---|---|---|---|---|---|---|"]
        pruned = ideal_run(name, HardwareConfig(), setting, preset_named("prune")).adc_conversions
        reference = None
        for label, protection in ABLATION:
            protection = preset_named(protection) if isinstance(protection, str) else protection
            r = cached_eval(name, HardwareConfig(), faults, protection, setting.max_test)
            reference = r.ideal_accuracy if reference is None else reference
            spare = sum(layout.spare_crossbars for layout in r.layouts)
            rows.append(f"| {label} | {'needed' if protection.needs_fault_map else 'free'} "
                        f"| {r.ideal_accuracy:.3f} | {r.accuracy_mean:.3f} ± {r.accuracy_ci95:.3f} "
                        f"| {100 * (reference - r.accuracy_mean):.1f} | {r.crossbars} | {spare} | {r.adc_conversions} "
                        f"| {r.extra_adc_conversions} | {100 * (r.adc_conversions / pruned - 1):+.0f} % |")
        return "\n".join(rows)
    return build


def docs_clustered(setting: Setting) -> str:
    """docs/tolerance.md: faults clustered along bit lines, four presets."""
    presets = ["none", "zero-space-paper", "compensate", "zero-space"]
    rows = ["| workload | " + " | ".join(presets) + " |", "|---" * (len(presets) + 1) + "|"]
    faults = FaultScenario(**CHEN2015, fault_model="column", n_chips=setting.n_chips)
    for name in DIGITS:
        ideal = (ideal_run(name, HardwareConfig(), setting).ideal_accuracy,
                 ideal_run(name, HardwareConfig(), setting, preset_named("prune")).ideal_accuracy)
        cells = [f"{cached_eval(name, HardwareConfig(), faults, preset_named(p), setting.max_test).accuracy_mean:.3f}"
                 for p in presets]
        rows.append(f"| {name} (ideal {ideal[0]:.3f} / pruned {ideal[1]:.3f}) | " + " | ".join(cells) + " |")
    return "\n".join(rows)

