"""Hardware tables: accuracy by ADC bits and range, analog effects and the ADC models (README.md, docs/adc.md,
docs/nonideal.md, docs/cost.md); the ISAAC check is with the cost tables."""
from __future__ import annotations

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.experiments.report.common import (CHEN2015, CHEN_PERCENT, DIGITS, Setting, cached_eval, cached_workload,
                                           ideal_run, ideal_score, preset_named, scenario)


def readme_adc(setting: Setting) -> str:
    """Accuracy by ADC resolution and range, fault-free, and faulty unprotected at the Chen rates."""
    columns = [(9, "full"), (8, "full"), (6, "full"), (4, "full"), (6, "calibrated"), (4, "calibrated")]
    rows = ["| workload | float | 9-bit ADC (lossless) | 8-bit full | 6-bit full | 4-bit full | 6-bit calibrated "
            "| 4-bit calibrated | faulty, unprotected |", "|---|---|---|---|---|---|---|---|---|"]
    for name in DIGITS:
        cells = [f"{cached_workload(name).float_accuracy:.4f}"]
        for bits, adc_range in columns:
            hw = HardwareConfig(adc_bits=bits, adc_range=adc_range)
            cells.append(f"{ideal_run(name, hw, setting).ideal_accuracy:.4f}")
        faulty = cached_eval(name, HardwareConfig(), scenario(setting, **CHEN2015), Protection(), setting.max_test)
        cells.append(f"{faulty.accuracy_mean:.4f} ± {faulty.accuracy_ci95:.4f}")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)



def _analog_grid(setting: Setting, adcs, protections, fault_rates, with_spread: bool) -> list[str]:
    from dse.config import AnalogEffects
    effects = [None, AnalogEffects(variation=0.02), AnalogEffects(variation=0.05),
               AnalogEffects(variation=0.05, read_noise=0.02)]
    rows = []
    for adc_label, hw in adcs:
        for preset in protections:
            for fault_label, rates in fault_rates:
                cells = []
                for analog in effects:
                    faults = FaultScenario(**rates, n_chips=setting.analog_chips)
                    r = cached_eval("mlp-digits", hw, faults, preset_named(preset), setting.max_test, analog)
                    cells.append(f"{100 * r.accuracy_mean:.1f} ± {100 * r.accuracy_std:.1f}" if with_spread
                                 else f"{100 * r.accuracy_mean:.1f}")
                rows.append((adc_label, preset, fault_label, cells))
    return rows


_ADC8 = ("8-bit full", HardwareConfig())
_ADC4CAL = ("4-bit calibrated", HardwareConfig(adc_bits=4, adc_range="calibrated"))
_ADC4FULL = ("4-bit full", HardwareConfig(adc_bits=4))


def readme_analog(setting: Setting) -> str:
    """mlp-digits under programming variation and read noise, with and without faults and protection."""
    rows = ["| ADC, protection | variation 0 | 2 % | 5 % | 5 % + 2 % read noise |", "|---|---|---|---|---|"]
    for adc, preset, faults, cells in _analog_grid(setting, [_ADC8, _ADC4CAL], ["none", "zero-space"],
                                                   [("no faults", {}), ("faults", CHEN2015)], False):
        if preset == "zero-space" and faults == "no faults":
            continue
        rows.append(f"| {adc}, {preset}, {faults} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def docs_analog(setting: Setting) -> str:
    """docs/nonideal.md: the full grid, mean ± standard deviation over chips, in %."""
    rows = ["| ADC | protection | faults SA0 / SA1 | variation 0 | variation 2 % | variation 5 % "
            "| 5 % + read noise 2 % |", "|---|---|---|---|---|---|---|"]
    for adc, preset, faults, cells in _analog_grid(setting, [_ADC8, _ADC4CAL, _ADC4FULL], ["none", "zero-space"],
                                                   [("none", {}), (CHEN_PERCENT, CHEN2015)], True):
        rows.append(f"| {adc} | {preset} | {faults} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def docs_adc_models(setting: Setting) -> str:
    """docs/cost.md: every ADC model against the survey fit and measured converters (``dse cost --adc-table``)."""
    from dse.cost.adc_compare import markdown
    return markdown()


ADC_RANGES_BITS = (4, 5, 6, 7, 8, 9)
ADC_RANGE_DESIGNS = [("full", dict(adc_range="full")), ("calibrated", dict(adc_range="calibrated")),
                     ("clip", dict(adc_range="clip")), ("clip + flip", dict(adc_range="clip", weight_flip=True))]


def _adc_range_rows(plan) -> list[str]:
    header = " | ".join(f"{b}-bit" for b in ADC_RANGES_BITS)
    rows = [f"| workload (metric) | mapping | ADC range | {header} |", "|---|---|---|" + "---|" * len(ADC_RANGES_BITS)]
    for name, metric, mapping, bits_run, max_test in plan:
        for label, design in ADC_RANGE_DESIGNS:
            cells = []
            for bits in ADC_RANGES_BITS:
                if bits not in bits_run:
                    cells.append("not run")
                    continue
                score, metrics = ideal_score(name, HardwareConfig(adc_bits=bits, mapping=mapping, **design), max_test)
                cells.append(f"{score if metric == 'accuracy' else metrics[metric]:.4f}")
            rows.append(f"| {name} ({metric.replace('_', ' ')}) | {mapping} | {label} | " + " | ".join(cells) + " |")
    return rows


def docs_adc_ranges(setting: Setting) -> str:
    """docs/adc.md: fault-free accuracy of the digits workloads by ADC bits for every range, with and without
    weight flipping, both mappings."""
    return "\n".join(_adc_range_rows([(name, "accuracy", mapping, ADC_RANGES_BITS, setting.max_test)
                                      for name in DIGITS for mapping in ("differential", "offset")]))


def docs_adc_ranges_minilm(setting: Setting) -> str:
    """docs/adc.md: the same for minilm-l6, cosine fidelity of the embeddings (its own table: it is slow)."""
    return "\n".join(_adc_range_rows([("minilm-l6", "cosine_fidelity", "differential", ADC_RANGES_BITS,
                                       setting.max_test)]))

