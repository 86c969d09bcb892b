"""Energy, area and latency of a mapped network: action counts from the layout times per-action data.

Every component has an energy per action and an area per instance in the technology preset
(``dse/tech/*.toml``). For each layer this module counts the actions one inference causes and the
instances the layer occupies, and multiplies. Nothing here is a technology number.

Components (``COMPONENTS``), what one action is, and how many instances a layer holds:

========================  ================================================  ===============================
component                 action (energy)                                   instances (area)
========================  ================================================  ===============================
cells                     one cell on a driven row for one input cycle:     rows x cols cells per crossbar
                          ``d2 * V**2 * G * t_read`` (see below)
dac                       one row driven for one input cycle                rows per crossbar
sample_hold               one column sampled                                cols per crossbar
adc                       one conversion (model by resolution and rate)     ceil(cols / cols_per_adc) per crossbar
shift_add                 one ADC result accumulated                        units_per_crossbar per crossbar
input_register            one input bit read into a DAC                     rows x input_bits bits per crossbar
output_register           one partial-sum update per conversion             outputs x psum_bits bits per crossbar
vote                      one copy value compared (adc_bits wide)           one unit per ADC stream of copies
flip                      with ``weight_flip``: per row tile and input cycle,  one unit per crossbar
                          a popcount of the driven rows (per row counted),
                          and one subtraction per conversion
edram                     one bit written or read, 2 x (inputs + outputs)   its share of a tile
bus, router               one bit moved, inputs + outputs                   its share of a tile
activation, tile_shift_add, tile_output_register
                          one layer output                                  its share of a tile
maxpool                   none in a network (pooling is not a crossbar      its share of a tile
                          layer); charged in ``tile_report`` only
========================  ================================================  ===============================

Modelling choices (each one a place where a reader could choose otherwise):

- Cell read energy: a cell on a driven row draws ``V**2 * G * t_read`` per cycle, scaled by
  ``d2 = E[(chunk / (2**dac_bits - 1))**2]`` for inputs whose bits are '1' with probability
  ``input_activity`` (``d2 = input_activity`` for 1-bit DACs). Programmed cells sit at the mean
  conductance ``G_off + level_fraction * (G_on - G_off)``; cells of unused columns on driven rows sit at
  ``G_off`` (erased) and are counted too. Rows of a partly filled row tile are not driven.
- Unused physical columns of a partly filled crossbar cost area (the whole crossbar and its periphery
  exist) but no conversions, samples or shift-adds: only the layout's bit lines are read.
- Duplicated bit lines (``copy_bitlines``) are read and converted like any other (they are in
  ``bitlines``), and every copy value also pays one vote compare-select. Spare crossbars are in
  ``crossbars``: they cost area, and their bit lines cost what the layout says is read.
- Area: each layer pays for its crossbars with their periphery and registers, plus a pro-rata share
  ``crossbars / (crossbars_per_ima * imas_per_tile)`` of the tile-level circuits (eDRAM, bus, router,
  tile digital units), as if the rest of a partly used tile held other work. This keeps area smooth
  in the crossbar count, which a search wants.
- Weight flipping (``weight_flip``): the periphery needs each row tile's input sum once per input cycle
  (a popcount of its driven rows, shared by the crossbars of the row tile: they see the same inputs) and
  subtracts each flipped bit line's code from ``L`` times it. Which bit lines are flipped depends on the
  weights, so every conversion is charged one subtraction (an upper bound); the unit's area is one per
  crossbar.
- Technology node: CMOS energies and areas scale with the preset's Stillmaker-Baas factors; the cell's
  read energy does not (it is device physics), its area is ``area_f2 * F**2`` at the node. Timing is
  not node-scaled.

Latency (pipelining assumption): one input cycle takes
``cycle_ns = max(t_read + t_sample_hold, cols_per_adc / f_adc)``, one MVM takes ``hw.cycles`` cycles,
and every crossbar of a layer works in parallel on one MVM (row tiles included; their partial sums
are added digitally). A layer's ``mvms_per_inference`` MVMs run one after another on its crossbars
(weights are not replicated). Layers sit on different crossbars and form a pipeline: one input goes
through them in turn, so ``latency_ns`` (one inference) is the sum of the layer latencies, and
``pipeline_interval_ns`` (time between inferences in steady state) is the slowest layer's latency.
Buffer, bus and digital-unit delays are not added (they overlap the next MVM's analog cycles).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pandas as pd

from dse.allowed import per_layer
from dse.config import HardwareConfig
from dse.cost.adc import adc_area_um2, adc_energy_pj
from dse.cost.tech import Tech, load_tech
from dse.layout import LayerLayout, ceil_div, plain_layout

COMPONENTS = (
    "cells", "dac", "sample_hold", "adc", "shift_add", "input_register", "output_register", "vote", "flip",
    "edram", "bus", "router", "activation", "tile_shift_add", "tile_output_register", "maxpool",
)
# The crossbar level: the analog array, its converters, its registers and the voting on its outputs.
CROSSBAR_COMPONENTS = COMPONENTS[:9]
# Shared by the crossbars of a tile (ISAAC: 8 crossbars per IMA, 12 IMAs per tile).
TILE_COMPONENTS = COMPONENTS[9:]


def cycle_ns(hw: HardwareConfig, tech: Tech) -> float:
    """One input cycle (ns): the array read plus sample-and-hold, or the ADC sweeping its columns."""
    timing, cell = tech["timing"], tech["cell"]
    return max(cell["t_read_ns"] + timing["t_sample_hold_ns"], hw.cols_per_adc / timing["f_adc_gsps"])


def adc_rate_gsps(hw: HardwareConfig, tech: Tech) -> float:
    """Conversions per ns one ADC makes: its ``cols_per_adc`` columns in every input cycle."""
    return hw.cols_per_adc / cycle_ns(hw, tech)


def drive_squared(input_activity: float, dac_bits: int) -> float:
    """Mean of ``(chunk / (2**dac_bits - 1))**2`` when every input bit is '1' with probability ``input_activity``.

    The cell current goes as the drive voltage and the energy as its square; for 1-bit DACs this is
    the activity itself.
    """
    a = input_activity
    full = 2**dac_bits - 1
    sum_4 = (4**dac_bits - 1) / 3  # sum over bit positions of (2**b)**2
    mean_sq = a * sum_4 + a * a * (full * full - sum_4)
    return mean_sq / (full * full)


def _layer_costs(layout: LayerLayout, hw: HardwareConfig, tech: Tech, activity: float,
                 level: float) -> dict[str, tuple[float, float]]:
    """{component: (energy_pj per inference, area_um2)} for one layer."""
    e_scale, a_scale = tech.energy_scale, tech.area_scale
    cell = tech["cell"]
    rate_gsps = adc_rate_gsps(hw, tech)

    # --- action counts per inference ---
    input_cycles = layout.mvms_per_inference * hw.cycles          # cycles every crossbar of the layer runs
    crossbars_per_row_tile = layout.crossbars / layout.row_tiles  # spare crossbars sit beside the row tile
    row_drives = input_cycles * layout.in_features * crossbars_per_row_tile
    conversions = layout.adc_conversions(hw)
    copy_conversions = input_cycles * layout.row_tiles * layout.copy_bitlines
    unused_columns = max(0.0, hw.cols * crossbars_per_row_tile - layout.bitlines)
    outputs = layout.mvms_per_inference * layout.out_features
    traffic_bits = layout.mvms_per_inference * (layout.in_features + layout.out_features) * hw.input_bits

    # --- cells: V^2 G t per driven cell per cycle (J -> pJ), not node-scaled ---
    g_on, g_off = 1.0 / cell["r_on_ohm"], 1.0 / cell["r_off_ohm"]
    g_programmed = g_off + level * (g_on - g_off)
    per_siemens_pj = drive_squared(activity, hw.dac_bits) * cell["v_read_v"] ** 2 * cell["t_read_ns"] * 1e-9 * 1e12
    cells_pj = input_cycles * layout.in_features * per_siemens_pj * (
        layout.bitlines * g_programmed + unused_columns * g_off)
    cell_area_um2 = cell["area_f2"] * (tech.node_nm * 1e-3) ** 2

    # --- instances ---
    adcs = layout.crossbars * ceil_div(hw.cols, hw.cols_per_adc)
    outputs_per_crossbar = ceil_div(hw.cols, hw.slices * hw.arrays)
    vote_units = layout.row_tiles * ceil_div(layout.copy_bitlines, hw.cols_per_adc)
    tile_share = layout.crossbars / tech.crossbars_per_tile
    dac_units = 2**hw.dac_bits - 1  # a b-bit DAC as 2**b - 1 one-bit units

    t = tech.tables
    energy = {
        "cells": cells_pj,
        "dac": row_drives * t["dac"]["energy_pj"] * dac_units * e_scale,
        "sample_hold": conversions * t["sample_hold"]["energy_pj"] * e_scale,
        "adc": conversions * adc_energy_pj(hw.adc_bits, rate_gsps, tech) * e_scale,
        "shift_add": conversions * t["shift_add"]["energy_pj"] * e_scale,
        "input_register": row_drives * hw.dac_bits * t["input_register"]["energy_pj_per_bit"] * e_scale,
        "output_register": conversions * t["output_register"]["energy_pj"] * e_scale,
        "vote": copy_conversions * t["vote"]["energy_pj"] * (hw.adc_bits / 8) * e_scale,
        "flip": (input_cycles * layout.in_features * t["flip"]["popcount_pj_per_row"]
                 + conversions * t["flip"]["subtract_pj"]) * e_scale if hw.weight_flip else 0.0,
        "edram": 2 * traffic_bits * t["edram"]["energy_pj_per_bit"] * e_scale,
        "bus": traffic_bits * t["bus"]["energy_pj_per_bit"] * e_scale,
        "router": traffic_bits * t["router"]["energy_pj_per_bit"] * e_scale,
        "activation": outputs * t["activation"]["energy_pj"] * e_scale,
        "tile_shift_add": outputs * t["tile_shift_add"]["energy_pj"] * e_scale,
        "tile_output_register": outputs * t["tile_output_register"]["energy_pj"] * e_scale,
        "maxpool": 0.0,
    }
    area = {
        "cells": layout.crossbars * hw.rows * hw.cols * cell_area_um2,
        "dac": layout.crossbars * hw.rows * t["dac"]["area_um2"] * dac_units * a_scale,
        "sample_hold": layout.crossbars * hw.cols * t["sample_hold"]["area_um2"] * a_scale,
        "adc": adcs * adc_area_um2(hw.adc_bits, rate_gsps, tech) * a_scale,
        "shift_add": layout.crossbars * t["shift_add"]["units_per_crossbar"] * t["shift_add"]["area_um2"] * a_scale,
        "input_register": layout.crossbars * hw.rows * hw.input_bits
        * t["input_register"]["area_um2_per_bit"] * a_scale,
        "output_register": layout.crossbars * outputs_per_crossbar * t["output_register"]["psum_bits"]
        * t["output_register"]["area_um2_per_bit"] * a_scale,
        "vote": vote_units * t["vote"]["area_um2"] * a_scale,
        "flip": layout.crossbars * t["flip"]["area_um2"] * a_scale if hw.weight_flip else 0.0,
        **{name: tile_share * t[name]["area_um2"] * a_scale for name in TILE_COMPONENTS},
    }
    return {name: (energy[name], area[name]) for name in COMPONENTS}


@dataclass(frozen=True, eq=False)
class CostReport:
    """Energy, area and latency of one mapped network on one technology preset.

    energy_pj              energy per inference (pJ)
    area_um2               area of the crossbars used, their periphery and their tile share (um2)
    latency_ns             one inference, layers one after another (ns)
    pipeline_interval_ns   steady-state time between inferences, layers pipelined (ns)
    cycle_ns               one input cycle (ns)
    adc_rate_gsps          conversions per ns each ADC makes (cols_per_adc per cycle)
    crossbars              crossbars used, spare crossbars included
    spare_crossbars        crossbars added only to hold redundant copies
    adc_conversions        conversions per inference, copies included
    extra_adc_conversions  of those, conversions of duplicated (copy) bit lines
    macs                   logical multiply-accumulates per inference (after pruning)
    breakdown              one row per (layer, component): layer, component, energy_pj, area_um2
    layers                 one row per layer, named as in a study's layers table: name, layer_energy_pj,
                           layer_area_um2, layer_latency_ns, layer_crossbars, layer_spare_crossbars,
                           layer_adc_conversions, layer_extra_adc_conversions, layer_macs
    tech, adc_model, node_nm  what the numbers were computed with
    """

    energy_pj: float
    area_um2: float
    latency_ns: float
    pipeline_interval_ns: float
    cycle_ns: float
    adc_rate_gsps: float
    crossbars: int
    spare_crossbars: int
    adc_conversions: int
    extra_adc_conversions: int
    macs: int
    breakdown: pd.DataFrame
    layers: pd.DataFrame
    tech: str
    adc_model: str
    node_nm: int

    @property
    def area_mm2(self) -> float:
        return self.area_um2 * 1e-6

    @property
    def energy_per_mac_pj(self) -> float:
        """Energy per inference over logical MACs (pJ), everything included."""
        return self.energy_pj / self.macs

    @property
    def crossbar_energy_per_mac_pj(self) -> float:
        """Crossbar-level energy (``CROSSBAR_COMPONENTS``: array, converters, registers, vote) per MAC (pJ)."""
        return sum(self.energy_by_component()[c] for c in CROSSBAR_COMPONENTS) / self.macs

    def energy_by_component(self) -> dict[str, float]:
        """{component: energy per inference (pJ)}, summed over layers."""
        sums = self.breakdown.groupby("component", sort=False)["energy_pj"].sum()
        return {c: float(sums[c]) for c in COMPONENTS}

    def area_by_component(self) -> dict[str, float]:
        """{component: area (um2)}, summed over layers."""
        sums = self.breakdown.groupby("component", sort=False)["area_um2"].sum()
        return {c: float(sums[c]) for c in COMPONENTS}

    def to_dict(self) -> dict[str, float]:
        """Flat numbers with units in the names, one per Parquet column of a study."""
        flat: dict[str, float] = {
            "energy_pj": self.energy_pj,
            "area_um2": self.area_um2,
            "area_mm2": self.area_mm2,
            "latency_ns": self.latency_ns,
            "pipeline_interval_ns": self.pipeline_interval_ns,
            "cycle_ns": self.cycle_ns,
            "adc_rate_gsps": self.adc_rate_gsps,
            "crossbars": self.crossbars,
            "spare_crossbars": self.spare_crossbars,
            "adc_conversions": self.adc_conversions,
            "extra_adc_conversions": self.extra_adc_conversions,
            "macs": self.macs,
            "energy_per_mac_pj": self.energy_per_mac_pj,
            "crossbar_energy_per_mac_pj": self.crossbar_energy_per_mac_pj,
        }
        flat.update({f"energy_{c}_pj": e for c, e in self.energy_by_component().items()})
        flat.update({f"area_{c}_um2": a for c, a in self.area_by_component().items()})
        return flat


def cost(
    layouts: Sequence[LayerLayout],
    hw: HardwareConfig,
    *,
    tech: str | Tech | None = None,
    adc_model: str | None = None,
    node_nm: int | None = None,
    input_activity: float | Mapping[str, float] | None = None,
    level_fraction: float | Mapping[str, float] | None = None,
) -> CostReport:
    """Energy per inference, area and latency of ``layouts`` mapped on ``hw``.

    tech            preset name, .toml path or loaded ``Tech`` (default: ``hw.tech``)
    adc_model       override the preset's ADC model (one of ``ADC_MODELS``)
    node_nm         override the preset's technology node (one of its scaling table's nodes)
    input_activity  fraction of '1' input bits: one number or {layer name: number} (measured per
                    layer); layers left out, or None, take the preset's ``cell.input_activity``
    level_fraction  mean programmed cell level as a fraction of full scale, same forms
                    (default: the preset's ``cell.level_fraction``)

    Every input is checked before any work; bad ones raise ``ValueError`` naming what is allowed.
    """
    tech = load_tech(hw.tech if tech is None else tech, node_nm=node_nm, adc_model=adc_model)
    layouts = list(layouts)
    if not layouts:
        raise ValueError("layouts must hold at least one LayerLayout")
    for layout in layouts:
        if not isinstance(layout, LayerLayout):
            raise ValueError(f"layouts must be dse.layout.LayerLayout objects, got {type(layout).__name__}")
    names = [layout.name for layout in layouts]
    if len(set(names)) != len(names):
        raise ValueError(f"layer names must be unique, got {names}")
    activities = per_layer(input_activity, names, tech["cell"]["input_activity"], "input_activity", 1.0)
    levels = per_layer(level_fraction, names, tech["cell"]["level_fraction"], "level_fraction", 1.0)

    cycle = cycle_ns(hw, tech)
    rows, layer_rows = [], []
    for layout in layouts:
        parts = _layer_costs(layout, hw, tech, activities[layout.name], levels[layout.name])
        rows += [(layout.name, c, e, a) for c, (e, a) in parts.items()]
        copy_conversions = layout.mvms_per_inference * hw.cycles * layout.row_tiles * layout.copy_bitlines
        layer_rows.append({  # named as the columns of a study's layers table (dse.study.schema)
            "name": layout.name,
            "layer_energy_pj": sum(e for e, _ in parts.values()),
            "layer_area_um2": sum(a for _, a in parts.values()),
            "layer_latency_ns": layout.mvms_per_inference * hw.cycles * cycle,
            "layer_crossbars": layout.crossbars,
            "layer_spare_crossbars": layout.spare_crossbars,
            "layer_adc_conversions": layout.adc_conversions(hw),
            "layer_extra_adc_conversions": copy_conversions,
            "layer_macs": layout.macs(),
        })
    breakdown = pd.DataFrame(rows, columns=["layer", "component", "energy_pj", "area_um2"])
    by_layer = pd.DataFrame(layer_rows)
    macs = int(by_layer["layer_macs"].sum())
    if macs < 1:
        raise ValueError("layouts map no weights (0 MACs per inference)")
    return CostReport(
        energy_pj=float(by_layer["layer_energy_pj"].sum()),
        area_um2=float(by_layer["layer_area_um2"].sum()),
        latency_ns=float(by_layer["layer_latency_ns"].sum()),
        pipeline_interval_ns=float(by_layer["layer_latency_ns"].max()),
        cycle_ns=cycle,
        adc_rate_gsps=adc_rate_gsps(hw, tech),
        crossbars=int(by_layer["layer_crossbars"].sum()),
        spare_crossbars=int(by_layer["layer_spare_crossbars"].sum()),
        adc_conversions=int(by_layer["layer_adc_conversions"].sum()),
        extra_adc_conversions=int(by_layer["layer_extra_adc_conversions"].sum()),
        macs=macs,
        breakdown=breakdown,
        layers=by_layer,
        tech=tech.name,
        adc_model=tech.adc_model,
        node_nm=tech.node_nm,
    )


@dataclass(frozen=True, eq=False)
class TileReport:
    """Power and area of one IMA (``crossbars_per_ima`` crossbars) and one tile at full load.

    Full load: every crossbar runs one MVM after another, each a ``rows`` x ``cols // (slices*arrays)``
    matrix of its own, every column converted every cycle; the tile's buffer, bus, router and digital
    units carry that traffic, max-pooling included (one operation per output), as in ISAAC's table.
    breakdown: component, scope ("ima" per IMA, "tile" per tile), power_mw, area_mm2.
    """

    ima_power_mw: float
    ima_area_mm2: float
    tile_power_mw: float
    tile_area_mm2: float
    mvm_ns: float
    breakdown: pd.DataFrame
    tech: str

    def to_dict(self) -> dict[str, float]:
        return {"ima_power_mw": self.ima_power_mw, "ima_area_mm2": self.ima_area_mm2,
                "tile_power_mw": self.tile_power_mw, "tile_area_mm2": self.tile_area_mm2,
                "mvm_ns": self.mvm_ns}


def tile_report(tech: str | Tech = "isaac", hw: HardwareConfig | None = None, *,
                adc_model: str | None = None, node_nm: int | None = None) -> TileReport:
    """IMA and tile power (mW) and area (mm2) of ``hw`` (default: the preset's reference architecture).

    Built on ``cost``: the energy of one crossbar's MVM at full load divided by the MVM's time, times
    the crossbars per IMA and per tile.
    """
    tech = load_tech(tech, node_nm=node_nm, adc_model=adc_model)
    hw = tech.architecture if hw is None else hw
    outputs = max(1, hw.cols // (hw.slices * hw.arrays))
    layout = plain_layout("crossbar", hw.rows, outputs, hw)
    report = cost([layout], hw, tech=tech)
    org = tech["organisation"]
    per_ima, per_tile = org["crossbars_per_ima"], tech.crossbars_per_tile
    mvm_ns = report.latency_ns
    energy, area = report.energy_by_component(), report.area_by_component()
    energy["maxpool"] = outputs * tech["maxpool"]["energy_pj"] * tech.energy_scale
    rows = []
    for c in COMPONENTS:
        scope, count = ("ima", per_ima) if c in CROSSBAR_COMPONENTS else ("tile", per_tile)
        rows.append((c, scope, energy[c] / layout.crossbars * count / mvm_ns,
                     area[c] / layout.crossbars * count * 1e-6))
    breakdown = pd.DataFrame(rows, columns=["component", "scope", "power_mw", "area_mm2"])
    ima, tile = breakdown[breakdown.scope == "ima"], breakdown[breakdown.scope == "tile"]
    imas = org["imas_per_tile"]
    return TileReport(
        ima_power_mw=float(ima.power_mw.sum()),
        ima_area_mm2=float(ima.area_mm2.sum()),
        tile_power_mw=float(imas * ima.power_mw.sum() + tile.power_mw.sum()),
        tile_area_mm2=float(imas * ima.area_mm2.sum() + tile.area_mm2.sum()),
        mvm_ns=mvm_ns,
        breakdown=breakdown,
        tech=tech.name,
    )
