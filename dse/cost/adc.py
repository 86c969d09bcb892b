"""ADC energy per conversion and area against resolution: three selectable models, parameters from data.

The model and its parameters come from the preset's ``[adc]`` tables (``dse/tech/*.toml``); ADC area is
the largest uncertainty in the cost model (about 5x across sources), so none of it is a constant here.

- ``isaac-sar``: fit to the ISAAC-derived 32 nm SAR table (Accelergy's library)
  ``E = a*N + b*2**N`` pJ, ``A = c*N + d*2**N`` um2.
- ``flash``: ``2**N - 1`` comparators, energy and area per comparator.
- ``murmann``: Murmann-survey envelope, Walden term plus Schreier term
  ``E = FoM_W * 2**N + 1 / (2 * 10**((FoM_S - SNDR) / 10))``, ``SNDR = 6.02 N + 1.76`` dB;
  area as the SAR fit's form.

Numbers are at the preset's source node; ``dse.cost.model`` applies the node scaling.
"""
from __future__ import annotations

from typing import Any, Mapping

from dse.cost.tech import ADC_MODELS


def adc_energy_pj(bits: int, model: str, params: Mapping[str, Any]) -> float:
    """Energy of one conversion at ``bits`` resolution (pJ) under ``model`` with its ``params`` table."""
    if model == "isaac-sar":
        return params["energy_pj_per_bit"] * bits + params["energy_pj_per_level"] * 2.0**bits
    if model == "flash":
        return params["energy_pj_per_comparator"] * (2.0**bits - 1)
    if model == "murmann":
        sndr_db = 6.02 * bits + 1.76
        schreier_j = 1.0 / (2.0 * 10.0 ** ((params["fom_schreier_db"] - sndr_db) / 10.0))
        walden_j = params["fom_walden_fj"] * 1e-15 * 2.0**bits
        return (schreier_j + walden_j) * 1e12
    raise ValueError(f"adc_model must be one of {', '.join(ADC_MODELS)}; got {model!r}")


def adc_area_um2(bits: int, model: str, params: Mapping[str, Any]) -> float:
    """Area of one ADC at ``bits`` resolution (um2) under ``model`` with its ``params`` table."""
    if model in ("isaac-sar", "murmann"):
        return params["area_um2_per_bit"] * bits + params["area_um2_per_level"] * 2.0**bits
    if model == "flash":
        return params["area_um2_per_comparator"] * (2.0**bits - 1)
    raise ValueError(f"adc_model must be one of {', '.join(ADC_MODELS)}; got {model!r}")
