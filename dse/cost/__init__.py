"""Energy, area and latency model of ReRAM crossbar accelerators, with sourced technology tables.

- ``dse.cost.tech``   loads and checks the presets in ``dse/tech/*.toml`` (``load_tech``)
- ``dse.cost.adc``    the selectable ADC models (isaac-sar, flash, murmann)
- ``dse.cost.model``  ``cost(layouts, hw) -> CostReport`` and ``tile_report`` (IMA and tile power/area)
- ``dse.cost.plot``   the breakdown figure
"""
from dse.cost.adc import adc_area_um2, adc_energy_pj
from dse.cost.model import (
    COMPONENTS,
    CROSSBAR_COMPONENTS,
    TILE_COMPONENTS,
    CostReport,
    TileReport,
    cost,
    cycle_ns,
    tile_report,
)
from dse.cost.tech import ADC_MODELS, Tech, available_presets, load_tech

__all__ = [
    "ADC_MODELS", "COMPONENTS", "CROSSBAR_COMPONENTS", "TILE_COMPONENTS", "CostReport", "Tech", "TileReport",
    "adc_area_um2", "adc_energy_pj", "available_presets", "cost", "cycle_ns", "load_tech", "tile_report",
]
