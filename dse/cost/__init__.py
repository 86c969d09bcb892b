"""Energy, area and latency model of ReRAM crossbar accelerators, with sourced technology tables.

- ``dse.cost.tech``         loads and checks the presets in ``dse/tech/*.toml`` (``load_tech``)
- ``dse.cost.adc``          the selectable ADC models (isaac-sar, flash, murmann, hwcomponents)
- ``dse.cost.adc_compare``  every ADC model against the survey fit and measured converters
- ``dse.cost.model``        ``cost(layouts, hw) -> CostReport`` and ``tile_report`` (IMA and tile power/area)
- ``dse.cost.plot``         the breakdown figure

The names below load on first use, so that ``dse.cost.tech`` (what the CLI's flags need) comes without
pandas.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "adc_area_um2": "adc", "adc_energy_pj": "adc",
    "COMPONENTS": "model", "CROSSBAR_COMPONENTS": "model", "TILE_COMPONENTS": "model", "CostReport": "model",
    "TileReport": "model", "cost": "model", "cycle_ns": "model", "adc_rate_gsps": "model", "tile_report": "model",
    "ADC_MODELS": "tech", "Tech": "tech", "available_presets": "tech", "load_tech": "tech",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"dse.cost.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dse.cost' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
