"""Technology presets: the sourced numbers in ``dse/tech/<name>.toml``, loaded and checked.

A preset is data, not code (Timeloop/Accelergy style): every component's energy per action and area
per instance, the cell's electrical parameters, the ADC models' parameters, the timing, the reference
architecture and the technology-scaling table. Each number carries its source as a comment in the file.

``load_tech(name)`` checks the whole file before any work: a missing key, an unknown key, a value of the
wrong type, an unknown ADC model or a node missing from the scaling table raises ``ValueError`` naming
the key and what is allowed.
"""
from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from dse.config import HardwareConfig

TECH_DIR = Path(__file__).resolve().parent.parent / "tech"
ADC_MODELS = ("isaac-sar", "flash", "murmann", "hwcomponents")

# Every key a preset defines, by table ("" = top level). Units are in the names; what one action is
# for each component is written next to it in the TOML files.
SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("name", "description", "node_nm", "source_node_nm"),
    "architecture": ("rows", "cols", "cell_bits", "weight_bits", "input_bits", "dac_bits", "adc_bits",
                     "cols_per_adc", "mapping", "weight_flip"),
    "organisation": ("crossbars_per_ima", "imas_per_tile"),
    "timing": ("f_adc_gsps", "t_sample_hold_ns"),
    "cell": ("r_on_ohm", "r_off_ohm", "v_read_v", "t_read_ns", "area_f2", "input_activity",
             "level_fraction"),
    "adc": ("model", "corner_gsps_at_8_bits", "corner_ratio_per_bit", "energy_rate_exponent"),
    "adc.isaac-sar": ("energy_pj_per_bit", "energy_pj_per_level", "area_um2_per_bit", "area_um2_per_level"),
    "adc.flash": ("energy_pj_per_comparator", "area_um2_per_comparator"),
    "adc.murmann": ("energy_floor_pj", "fom_walden_fj", "fom_schreier_db", "area_um2_per_bit",
                    "area_um2_per_level"),
    "adc.hwcomponents": ("fom_intercept_db", "fom_per_ln_hz_db", "fom_cap_intercept_db", "fom_cap_per_bit_db",
                         "fom_cap_max_bits", "energy_intercept", "energy_per_ln_node", "energy_per_ln_bits",
                         "energy_residual", "area_intercept", "area_per_ln_node", "area_per_ln_hz",
                         "area_per_ln_energy_pj"),
    "dac": ("energy_pj", "area_um2"),
    "sample_hold": ("energy_pj", "area_um2"),
    "shift_add": ("energy_pj", "area_um2", "units_per_crossbar"),
    "input_register": ("energy_pj_per_bit", "area_um2_per_bit"),
    "output_register": ("energy_pj", "area_um2_per_bit", "psum_bits"),
    "vote": ("energy_pj", "area_um2"),
    "flip": ("popcount_pj_per_row", "subtract_pj", "area_um2"),
    "edram": ("energy_pj_per_bit", "area_um2"),
    "bus": ("energy_pj_per_bit", "area_um2"),
    "router": ("energy_pj_per_bit", "area_um2"),
    "activation": ("energy_pj", "area_um2"),
    "tile_shift_add": ("energy_pj", "area_um2"),
    "tile_output_register": ("energy_pj", "area_um2"),
    "maxpool": ("energy_pj", "area_um2"),
    "scaling": ("node_nm", "energy", "area"),
    "reference": ("node_nm", "mult_8b_pj", "add_8b_pj"),
}
# Tables a preset may leave out.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "paper": ("ima_power_mw", "ima_area_mm2", "tile_power_mw", "tile_area_mm2"),
}
_STRINGS = {("", "name"), ("", "description"), ("adc", "model"), ("architecture", "mapping")}
_BOOLS = {("architecture", "weight_flip")}
_LISTS = {("scaling", "node_nm"), ("scaling", "energy"), ("scaling", "area")}
# Fit coefficients, which may be negative (every other number is a physical quantity >= 0).
_SIGNED = {("adc.hwcomponents", key) for key in SCHEMA["adc.hwcomponents"]}
# Divisors: must be > 0.
_POSITIVE = {("adc", "corner_gsps_at_8_bits"), ("adc", "corner_ratio_per_bit")}


def available_presets() -> tuple[str, ...]:
    """Names of the presets shipped under ``dse/tech/``."""
    return tuple(sorted(p.stem for p in TECH_DIR.glob("*.toml")))


@dataclass(frozen=True)
class Tech:
    """One loaded, checked technology preset.

    name       preset name (or the file path it came from)
    tables     the TOML content by table name: ``tables["dac"]["energy_pj"]``, ``tables["adc.flash"]``...
    node_nm    node the costs are reported at (the preset's, or an override)
    adc_model  ADC model in use (the preset's, or an override)
    """

    name: str
    tables: Mapping[str, Mapping[str, Any]]
    node_nm: int
    adc_model: str

    def __getitem__(self, table: str) -> Mapping[str, Any]:
        return self.tables[table]

    def _factor(self, which: str) -> float:
        scaling = self.tables["scaling"]
        nodes = list(scaling["node_nm"])
        source = self.tables[""]["source_node_nm"]
        return scaling[which][nodes.index(self.node_nm)] / scaling[which][nodes.index(source)]

    @property
    def energy_scale(self) -> float:
        """CMOS energy at ``node_nm`` relative to the preset's source node (Stillmaker-Baas)."""
        return self._factor("energy")

    @property
    def area_scale(self) -> float:
        """CMOS area at ``node_nm`` relative to the preset's source node (Stillmaker-Baas)."""
        return self._factor("area")

    @property
    def architecture(self) -> HardwareConfig:
        """The preset's reference design (what ``dse cost --preset`` reports)."""
        return HardwareConfig(**self.tables["architecture"], tech=self.name)

    @property
    def crossbars_per_tile(self) -> int:
        org = self.tables["organisation"]
        return org["crossbars_per_ima"] * org["imas_per_tile"]

    def digital_mac_pj(self) -> float:
        """Digital 8-bit multiply + add (Horowitz, 45 nm) scaled to ``node_nm``: the bar per MAC."""
        ref, scaling = self.tables["reference"], self.tables["scaling"]
        nodes = list(scaling["node_nm"])
        factor = scaling["energy"][nodes.index(self.node_nm)] / scaling["energy"][nodes.index(ref["node_nm"])]
        return (ref["mult_8b_pj"] + ref["add_8b_pj"]) * factor


def _resolve(name: str) -> Path:
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"tech file {name!r} does not exist")
        return path
    path = TECH_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown tech preset {name!r}; allowed: {', '.join(available_presets())} "
                         f"(or a path to a .toml file)")
    return path


def _flatten(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """TOML document -> {"": top-level scalars, "dac": {...}, "adc": {...}, "adc.flash": {...}}."""
    tables: dict[str, dict[str, Any]] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        tables[prefix] = {}
        for key, value in node.items():
            if isinstance(value, dict):
                walk(f"{prefix}.{key}" if prefix else key, value)
            else:
                tables[prefix][key] = value

    walk("", doc)
    return tables


def _check(source: str, tables: dict[str, dict[str, Any]]) -> None:
    known = {**SCHEMA, **OPTIONAL}
    unknown_tables = sorted(t for t in tables if t not in known and not (t == "" or tables[t] == {}))
    if unknown_tables:
        raise ValueError(f"{source}: unknown table(s) {', '.join(unknown_tables)}; "
                         f"allowed: {', '.join(sorted(t for t in known if t))}")
    for table, keys in known.items():
        if table not in tables:
            if table in OPTIONAL:
                continue
            raise ValueError(f"{source}: missing table [{table}] (keys {', '.join(keys)})")
        present = tables[table]
        for key in keys:
            where = f"{table}.{key}" if table else key
            if key not in present:
                raise ValueError(f"{source}: missing key {where!r}")
            value = present[key]
            if (table, key) in _STRINGS:
                if not isinstance(value, str):
                    raise ValueError(f"{source}: {where} must be a string, got {value!r}")
            elif (table, key) in _BOOLS:
                if not isinstance(value, bool):
                    raise ValueError(f"{source}: {where} must be true or false, got {value!r}")
            elif (table, key) in _LISTS:
                if not isinstance(value, list) or not value or not all(_is_number(v) for v in value):
                    raise ValueError(f"{source}: {where} must be a non-empty list of numbers, got {value!r}")
            elif (table, key) in _SIGNED:
                if not _is_number(value):
                    raise ValueError(f"{source}: {where} must be a number, got {value!r}")
            elif (table, key) in _POSITIVE:
                if not _is_number(value) or value <= 0:
                    raise ValueError(f"{source}: {where} must be a number > 0, got {value!r}")
            elif not _is_number(value) or value < 0:
                raise ValueError(f"{source}: {where} must be a number >= 0, got {value!r}")
        extra = sorted(set(present) - set(keys))
        if extra:
            where = f"[{table}]" if table else "top level"
            raise ValueError(f"{source}: unknown key(s) {', '.join(extra)} in {where}; allowed: {', '.join(keys)}")
    scaling = tables["scaling"]
    if not len(scaling["node_nm"]) == len(scaling["energy"]) == len(scaling["area"]):
        raise ValueError(f"{source}: scaling.node_nm, scaling.energy and scaling.area must have equal lengths")
    for where, node in (("source_node_nm", tables[""]["source_node_nm"]),
                        ("reference.node_nm", tables["reference"]["node_nm"])):
        if node not in scaling["node_nm"]:
            raise ValueError(f"{source}: {where} = {node} is not in scaling.node_nm {scaling['node_nm']}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@functools.lru_cache(maxsize=32)
def _read(path: Path, mtime_ns: int) -> Mapping[str, Mapping[str, Any]]:
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    tables = _flatten(doc)
    _check(str(path), tables)
    try:  # the reference architecture must itself be a valid design point
        HardwareConfig(**tables["architecture"])
    except ValueError as exc:
        raise ValueError(f"{path}: [architecture]: {exc}") from None
    frozen = {name: {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
              for name, table in tables.items()}
    return MappingProxyType({name: MappingProxyType(table) for name, table in frozen.items()})


def load_tech(name: str | Tech, *, node_nm: int | None = None, adc_model: str | None = None) -> Tech:
    """Load and check a preset: ``name`` is a preset under ``dse/tech/`` or a path to a ``.toml`` file.

    node_nm    report at this node instead of the preset's ``node_nm`` (must be in its scaling table)
    adc_model  use this ADC model instead of the preset's ``adc.model`` (one of ``ADC_MODELS``)
    """
    if isinstance(name, Tech):
        tables, label = name.tables, name.name
        node = name.node_nm if node_nm is None else node_nm
        model = name.adc_model if adc_model is None else adc_model
    else:
        if not isinstance(name, str) or not name:
            raise ValueError(f"tech must be a preset name or a .toml path, got {name!r}")
        path = _resolve(name)
        tables = _read(path, path.stat().st_mtime_ns)
        label = tables[""]["name"] if path.parent == TECH_DIR else str(path)
        node = tables[""]["node_nm"] if node_nm is None else node_nm
        model = tables["adc"]["model"] if adc_model is None else adc_model
    if model not in ADC_MODELS:
        raise ValueError(f"adc_model must be one of {', '.join(ADC_MODELS)}; got {model!r}")
    nodes = tables["scaling"]["node_nm"]
    if node not in nodes:
        raise ValueError(f"node_nm must be one of {', '.join(str(n) for n in nodes)} "
                         f"(the preset's scaling table); got {node!r}")
    return Tech(name=label, tables=tables, node_nm=int(node), adc_model=model)
