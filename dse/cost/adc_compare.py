"""Every ADC model side by side with the hwcomponents-adc survey fit and with measured converters.

``dse cost --adc-table`` prints the tables of docs/cost.md from this module; the bounds below are the
ones documented there, and tests/test_cost.py checks the tables stay inside them.

Energies are per conversion at the preset's source node (32 nm for both shipped presets). A measured
converter is compared at its own resolution and rate; the survey fit is also evaluated at the
converter's own node (it has a node term), the other models at the preset's node, which the
``node_nm`` column makes visible.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dse.cost.adc import adc_area_um2, adc_energy_pj
from dse.cost.tech import ADC_MODELS, TECH_DIR, Tech, load_tech

MEASURED_FILE = TECH_DIR / "measured" / "adcs.toml"
BITS = (4, 6, 8, 9, 10)
RATES_GSPS = (0.1, 1.2)  # a slow design and ISAAC's ADC rate (128 columns per 106.7 ns cycle)
REFERENCE = "hwcomponents"

# (low, high) bounds of model energy / reference energy over BITS x RATES_GSPS.
FIT_BOUNDS = {"isaac-sar": (0.5, 2.0), "murmann": (0.5, 2.0), "flash": (0.2, 5.0)}
# (low, high) bounds of model energy / measured energy over the converters of MEASURED_FILE.
MEASURED_BOUNDS = {"isaac-sar": (0.45, 2.0), "murmann": (0.35, 2.0), "hwcomponents": (0.35, 2.0),
                   "flash": (0.1, 5.0)}


@dataclass(frozen=True)
class MeasuredADC:
    key: str
    paper: str
    adc_bits: int
    rate_gsps: float
    node_nm: int
    energy_pj: float
    area_um2: float
    sndr_db: float


def measured_adcs(path: Path = MEASURED_FILE) -> tuple[MeasuredADC, ...]:
    with open(path, "rb") as handle:
        doc = tomllib.load(handle)
    return tuple(MeasuredADC(key=key, **entry) for key, entry in doc.items())


def _at_node(tech: Tech, node_nm: int) -> Tech:
    """The preset with its source node moved to ``node_nm`` (only the survey fit reads it)."""
    tables = dict(tech.tables)
    tables[""] = {**tables[""], "source_node_nm": node_nm}
    return Tech(name=tech.name, tables=tables, node_nm=tech.node_nm, adc_model=tech.adc_model)


def fit_table(tech: str | Tech = "default") -> pd.DataFrame:
    """One row per (rate_gsps, adc_bits): every model's energy (pJ) and area (um2), and energy / fit."""
    tech = load_tech(tech)
    rows = []
    for rate in RATES_GSPS:
        for bits in BITS:
            row = {"rate_gsps": rate, "adc_bits": bits}
            ref = adc_energy_pj(bits, rate, tech, REFERENCE)
            for model in ADC_MODELS:
                row[f"{model}_energy_pj"] = adc_energy_pj(bits, rate, tech, model)
                row[f"{model}_area_um2"] = adc_area_um2(bits, rate, tech, model)
                row[f"{model}_vs_fit"] = row[f"{model}_energy_pj"] / ref
            rows.append(row)
    return pd.DataFrame(rows)


def measured_table(tech: str | Tech = "default") -> pd.DataFrame:
    """One row per measured converter: its figures, every model's energy and area at its bits and rate,
    and model / measured ratios."""
    tech = load_tech(tech)
    rows = []
    for adc in measured_adcs():
        row = {"converter": adc.key, "adc_bits": adc.adc_bits, "rate_gsps": adc.rate_gsps,
               "node_nm": adc.node_nm, "energy_pj": adc.energy_pj, "area_um2": adc.area_um2}
        for model in ADC_MODELS:
            at = _at_node(tech, adc.node_nm) if model == REFERENCE else tech
            energy = adc_energy_pj(adc.adc_bits, adc.rate_gsps, at, model)
            area = adc_area_um2(adc.adc_bits, adc.rate_gsps, at, model)
            row[f"{model}_energy_pj"], row[f"{model}_vs_measured"] = energy, energy / adc.energy_pj
            row[f"{model}_area_um2"], row[f"{model}_area_vs_measured"] = area, area / adc.area_um2
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(tech: str | Tech = "default") -> str:
    """The two tables of docs/cost.md."""
    tech = load_tech(tech)
    fit, measured = fit_table(tech), measured_table(tech)
    models = [m for m in ADC_MODELS if m != REFERENCE]
    lines = [f"Energy per conversion (pJ, {tech[''].get('source_node_nm')} nm) and its ratio to the "
             f"{REFERENCE} survey fit:", "",
             "| rate GS/s | bits | " + " | ".join([REFERENCE] + models) + " |",
             "|---|---|" + "---|" * (1 + len(models))]
    for _, r in fit.iterrows():
        cells = [f"{r[f'{REFERENCE}_energy_pj']:.3g}"]
        cells += [f"{r[f'{m}_energy_pj']:.3g} ({r[f'{m}_vs_fit']:.2f}x)" for m in models]
        lines.append(f"| {r['rate_gsps']:g} | {int(r['adc_bits'])} | " + " | ".join(cells) + " |")
    lines += ["", "Measured converters (energy pJ / area um2 per conversion; model / measured in brackets):", "",
              "| converter | bits | GS/s | nm | measured | " + " | ".join(ADC_MODELS) + " |",
              "|---|---|---|---|---|" + "---|" * len(ADC_MODELS)]
    for _, r in measured.iterrows():
        cells = [f"{r[f'{m}_energy_pj']:.3g} / {r[f'{m}_area_um2']:.0f} "
                 f"({r[f'{m}_vs_measured']:.2f}x / {r[f'{m}_area_vs_measured']:.2f}x)" for m in ADC_MODELS]
        lines.append(f"| {r['converter']} | {r['adc_bits']} | {r['rate_gsps']:g} | {r['node_nm']} | "
                     f"{r['energy_pj']:.3g} / {r['area_um2']:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Bounds (checked by tests/test_cost.py): energy / survey fit "
              + ", ".join(f"{m} {lo:g}-{hi:g}x" for m, (lo, hi) in FIT_BOUNDS.items())
              + "; energy / measured " + ", ".join(f"{m} {lo:g}-{hi:g}x" for m, (lo, hi) in MEASURED_BOUNDS.items())]
    return "\n".join(lines)
