"""ADC energy per conversion and area against resolution and sample rate: four models, parameters from data.

The model and its parameters come from the preset's ``[adc]`` tables (``dse/tech/*.toml``); ADC area is
the largest uncertainty in the cost model (about 5x across sources), so none of it is a constant here.
The rate is what the design asks of one ADC: ``cols_per_adc`` conversions per input cycle
(``dse.cost.model.adc_rate_gsps``).

- ``isaac-sar``: fit to the ISAAC-derived 32 nm SAR table (Accelergy's library)
  ``E = a*N + b*2**N`` pJ, ``A = c*N + d*2**N`` um2, times the speed penalty below.
- ``flash``: ``2**N - 1`` comparators, energy and area per comparator; one comparison cycle per
  conversion, so no speed penalty at the rates a crossbar asks (up to a few GS/s).
- ``murmann``: survey envelope, an energy floor plus a Walden and a Schreier term,
  ``E = E_floor + (FoM_W * 2**N + 1 / (2 * 10**((FoM_S - SNDR) / 10))) * penalty``,
  ``SNDR = 6.02 N + 1.76`` dB; area as the SAR fit's form.
- ``hwcomponents``: the published fit of hwcomponents-adc (CiMLoop/Accelergy's ADC model, Andrulis et
  al., arXiv:2404.06553) to the Murmann ADC survey, reimplemented with its coefficients as data
  (``[adc.hwcomponents]``): Schreier FoM falling with rate, capped by resolution, corrected by node and
  resolution; area a log-linear fit in node, rate and energy. Defined from 4 bits, as the original.

Speed penalty (``isaac-sar``, ``murmann``): a converter of ``N`` bits reaches its best energy per
conversion up to a corner rate that falls by ``corner_ratio_per_bit`` per extra bit; above it the
energy grows as ``(rate / corner) ** energy_rate_exponent``. Both numbers are the survey fit's own
(its FoM line against its resolution cap); the corner is anchored at 8 bits and 1.2 GS/s, where
Kull et al. (ISSCC 2013) measured the SAR that ISAAC's table uses.

Numbers are at the preset's source node; ``dse.cost.model`` applies the node scaling.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from dse.cost.tech import ADC_MODELS

if TYPE_CHECKING:
    from dse.cost.tech import Tech

HWCOMPONENTS_MIN_BITS = 4


def _check_model(model: str, bits: int) -> None:
    if model not in ADC_MODELS:
        raise ValueError(f"adc_model must be one of {', '.join(ADC_MODELS)}; got {model!r}")
    if model == "hwcomponents" and bits < HWCOMPONENTS_MIN_BITS:
        raise ValueError(f"adc_model 'hwcomponents' covers adc_bits >= {HWCOMPONENTS_MIN_BITS} "
                         f"(the range of its fit); got adc_bits={bits}")


def speed_penalty(bits: int, rate_gsps: float, tech: Tech) -> float:
    """Factor >= 1 on the energy per conversion of an ``bits``-bit converter run at ``rate_gsps``."""
    adc = tech["adc"]
    corner = adc["corner_gsps_at_8_bits"] / adc["corner_ratio_per_bit"] ** (bits - 8)
    return max(1.0, rate_gsps / corner) ** adc["energy_rate_exponent"]


def sndr_db(bits: float) -> float:
    """Ideal SNDR of an ``bits``-bit quantiser (dB): 6.02 N + 1.76."""
    return 20.0 * math.log10(2.0) * bits + 10.0 * math.log10(1.5)


def _schreier_pj(fom_db: float, bits: float) -> float:
    # Schreier FoM = SNDR + 10 log10(f_s / 2 / P)  ->  P / f_s = 1 / (2 * 10**((FoM - SNDR) / 10)) J
    return 1e12 / (2.0 * 10.0 ** ((fom_db - sndr_db(bits)) / 10.0))


def _hwcomponents_pj(bits: int, rate_gsps: float, node_nm: float, p) -> float:
    ln_hz = math.log(rate_gsps * 1e9)
    cap = p["fom_cap_intercept_db"] + p["fom_cap_per_bit_db"] * min(bits, p["fom_cap_max_bits"])
    fom = min(p["fom_intercept_db"] + p["fom_per_ln_hz_db"] * ln_hz, cap)
    correction = math.exp(p["energy_intercept"] + p["energy_per_ln_node"] * math.log(node_nm)
                          + p["energy_per_ln_bits"] * math.log(bits) + p["energy_residual"])
    return _schreier_pj(fom, bits) * 1e-12 * correction  # the fit's correction carries J -> pJ


def adc_energy_pj(bits: int, rate_gsps: float, tech: Tech, model: str | None = None) -> float:
    """Energy of one conversion (pJ) at ``bits`` resolution and ``rate_gsps`` per ADC, at the preset's
    source node, under ``model`` (default: the preset's) with its parameters from ``tech``."""
    model = tech.adc_model if model is None else model
    _check_model(model, bits)
    p = tech["adc." + model]
    if model == "isaac-sar":
        base = p["energy_pj_per_bit"] * bits + p["energy_pj_per_level"] * 2.0**bits
        return base * speed_penalty(bits, rate_gsps, tech)
    if model == "flash":
        return p["energy_pj_per_comparator"] * (2.0**bits - 1)
    if model == "murmann":
        walden_pj = p["fom_walden_fj"] * 1e-3 * 2.0**bits
        return p["energy_floor_pj"] + (walden_pj + _schreier_pj(p["fom_schreier_db"], bits)) * speed_penalty(
            bits, rate_gsps, tech)
    return _hwcomponents_pj(bits, rate_gsps, tech[""]["source_node_nm"], p)


def adc_area_um2(bits: int, rate_gsps: float, tech: Tech, model: str | None = None) -> float:
    """Area of one ADC (um2) at ``bits`` resolution and ``rate_gsps``, at the preset's source node."""
    model = tech.adc_model if model is None else model
    _check_model(model, bits)
    p = tech["adc." + model]
    if model in ("isaac-sar", "murmann"):
        return p["area_um2_per_bit"] * bits + p["area_um2_per_level"] * 2.0**bits
    if model == "flash":
        return p["area_um2_per_comparator"] * (2.0**bits - 1)
    node_nm = tech[""]["source_node_nm"]
    energy_pj = _hwcomponents_pj(bits, rate_gsps, node_nm, p)
    return math.exp(p["area_intercept"] + p["area_per_ln_node"] * math.log(node_nm)
                    + p["area_per_ln_hz"] * math.log(rate_gsps * 1e9)
                    + p["area_per_ln_energy_pj"] * math.log(energy_pj))
