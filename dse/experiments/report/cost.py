"""Cost tables of README.md and docs/cost.md: the ISAAC check, mlp-digits at the default preset, its energy by ADC
resolution and model, and the columns-per-ADC trade-off (``dse cost``; no simulation, so they are quick)."""
from __future__ import annotations

from dse.config import HardwareConfig
from dse.experiments.report.common import Setting, cached_workload

_MODELS = ("isaac-sar", "flash", "murmann", "hwcomponents")


def _mlp_cost(hw: HardwareConfig, adc_model: str | None = None):
    from dse.cost import cost
    from dse.mapping import map_network
    return cost(map_network(cached_workload("mlp-digits"), hw).layouts, hw, adc_model=adc_model)


_ISAAC_ROWS = (("ima_power_mw", "IMA power", "mW", ".2f"), ("ima_area_mm2", "IMA area", "mm2", ".5f"),
               ("tile_power_mw", "tile power", "mW", ".1f"), ("tile_area_mm2", "tile area", "mm2", ".4f"))


def _isaac(first_header: str, with_difference: bool) -> str:
    """The isaac preset's IMA and tile (``dse cost --preset isaac``) beside the paper's figures."""
    from dse.cost import load_tech, tile_report
    tech = load_tech("isaac")
    report = tile_report(tech, tech.architecture)
    paper = tech.tables["paper"]
    extra = " |" if with_difference else ""
    first = f"| {first_header} |" if first_header else "| |"
    rows = [f"{first} model | paper |{extra}", "|---|---|---|" + ("---|" if with_difference else "")]
    for key, label, unit, digits in _ISAAC_ROWS:
        value = getattr(report, key)
        difference = f" {100 * (value / paper[key] - 1):+.1f} % |" if with_difference else ""
        rows.append(f"| {label} | {value:{digits}} {unit} | {paper[key]:g} {unit} |{difference}")
    return "\n".join(rows)


def readme_isaac(setting: Setting) -> str:
    """README.md: the ISAAC IMA and tile against the paper."""
    return _isaac("ISAAC (32 nm)", with_difference=False)


def docs_isaac(setting: Setting) -> str:
    """docs/cost.md: the same with the relative difference."""
    return _isaac("", with_difference=True)


def _shares(parts: dict[str, float], total: float, names) -> str:
    return ", ".join(f"{label} {100 * sum(parts[n] for n in group) / total:.0f} %" for label, group in names)


def docs_cost_mlp(setting: Setting) -> str:
    """mlp-digits on the default preset and design: energy, area, latency and energy per MAC."""
    from dse.cost import load_tech
    hw = HardwareConfig()
    r = _mlp_cost(hw)
    energy, area = r.energy_by_component(), r.area_by_component()
    tile = ("edram", "bus", "router")
    tech = load_tech(hw.tech)
    ref = tech.tables["reference"]
    return "\n".join([
        "| | |", "|---|---|",
        f"| energy per inference | {r.energy_pj / 1e3:.1f} nJ ("
        + _shares(energy, r.energy_pj, (("ADCs", ("adc",)), ("cells", ("cells",)), ("DACs", ("dac",)))) + ") |",
        f"| area | {r.area_mm2:.3f} mm2 ({r.crossbars} crossbars; "
        + _shares(area, r.area_um2, (("ADCs", ("adc",)), ("cells", ("cells",)))) + ", tile share of eDRAM, bus and "
        f"router {100 * sum(area[c] for c in tile) / r.area_um2:.0f} %) |",
        f"| latency | {r.latency_ns / 1e3:.2f} us per inference, pipeline interval "
        f"{r.pipeline_interval_ns / 1e3:.2f} us (cycle {r.cycle_ns:.1f} ns, "
        f"{hw.input_bits // hw.dac_bits} cycles per MVM) |",
        f"| energy per MAC | {r.energy_per_mac_pj:.2f} pJ overall, **{r.crossbar_energy_per_mac_pj:.2f} pJ at the "
        "crossbar level** |",
        f"| digital reference | {tech.digital_mac_pj():.3f} pJ per 8-bit MAC (Horowitz {ref['node_nm']} nm: multiply "
        f"{ref['mult_8b_pj']:g} + add {ref['add_8b_pj']:g} pJ, scaled to {tech.node_nm} nm) |"])


def docs_cost_adc_bits(setting: Setting) -> str:
    """mlp-digits energy per inference (nJ) / crossbar-level energy per MAC (pJ) by ADC bits and model."""
    rows = ["| adc_bits | " + " | ".join(_MODELS) + " |", "|---|" + "---|" * len(_MODELS)]
    for bits in (4, 6, 8, 10):
        cells = []
        for model in _MODELS:
            r = _mlp_cost(HardwareConfig(adc_bits=bits), model)
            per_mac = r.crossbar_energy_per_mac_pj
            cells.append(f"{r.energy_pj / 1e3:.1f} / {per_mac:.2f}" if per_mac < 10
                         else f"{r.energy_pj / 1e3:.1f} / {per_mac:.1f}")
        rows.append(f"| {bits} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def docs_cost_cols_per_adc(setting: Setting) -> str:
    """mlp-digits with fewer columns sharing an ADC: energy, area, latency."""
    rows = ["| cols_per_adc | energy per inference | area | latency | ADC rate |", "|---|---|---|---|---|"]
    for cols in (128, 32, 8):
        r = _mlp_cost(HardwareConfig(cols_per_adc=cols))
        rows.append(f"| {cols} | {r.energy_pj / 1e3:.1f} nJ | {r.area_mm2:.3f} mm2 | {r.latency_ns / 1e3:.2f} us "
                    f"| {r.adc_rate_gsps:.3g} GS/s |")
    return "\n".join(rows)
