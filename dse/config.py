"""Frozen, validated configurations: the one place where every allowed range lives.

Every field name is the same in study TOML files, CLI flags (with dashes), these dataclasses and the
Parquet result columns. Constructing a config validates it; a bad value raises ``ValueError`` naming the
field and its allowed values before any work starts.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from kernels.cuda import check_backend
from kernels.names import ADC_RANGES, FAULT_MODELS, MAPPINGS, VOTES  # what the kernels implement; configs check it
from dse.allowed import (Boolean, Checked, Interval, LayerFractions, LevelTable, OneOf, PresetName, check_field,
                         per_layer)


def _from_dict(cls, values: dict[str, Any]):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    return cls(**values)


# A field's description is the entry in its dataclass docstring ("name   what it is"): the help of its CLI
# flag and the description of its Parquet column (dse.study.schema).
_DOC_ENTRY = re.compile(r"^    ([a-z0-9_]+(?:, [a-z0-9_]+)*)\s{2,}(\S.*)$")


def field_help(cls) -> dict[str, str]:
    """{field name: its description} from ``cls``'s docstring, continuation lines joined."""
    names = {f.name for f in dataclasses.fields(cls)}
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (cls.__doc__ or "").splitlines():
        match = _DOC_ENTRY.match(line)
        if match and set(match.group(1).split(", ")) <= names:
            current = [match.group(2)]
            for name in match.group(1).split(", "):
                found[name] = current
        elif current is not None and line.startswith("     ") and line.strip():
            current.append(line.strip())
        else:
            current = None
    return {name: " ".join(parts).replace("``", "") for name, parts in found.items()}


DEFAULT_COLS_PER_ADC = 128  # bit lines per ADC unless set (ISAAC: one ADC per 128-column crossbar)


@dataclass(frozen=True)
class HardwareConfig:
    """One ReRAM crossbar accelerator design point.

    rows, cols       crossbar size (word lines x bit lines)
    cell_bits        bits stored per cell (levels 0 .. 2**cell_bits - 1)
    weight_bits      signed symmetric weight width
    input_bits       activation width, driven bit-serially through ``dac_bits``-wide DACs
    dac_bits         input bits driven per word line per cycle (the DAC width): ``ceil(input_bits /
                     dac_bits)`` input cycles per matrix-vector product
    adc_bits         ADC resolution
    adc_range        how the ADC's step is set: full (power-of-two step over the largest possible column
                     sum), calibrated (step from calibration sums) or clip (step 1, saturating)
    adc_percentile   percentile of calibration column sums that sets the calibrated full scale
    weight_flip      ISAAC's encoding (``kernels/flip.py``): per row tile, bit lines whose levels sum above
                     half their maximum store the complement, corrected digitally with the tile's input sum
    mapping          differential (two arrays) or offset (one array, digital offset correction)
    cols_per_adc     bit lines multiplexed onto one ADC (sets ADC count, area and latency); at most
                     ``cols``; left out, 128 (ISAAC's sharing) or ``cols`` when the crossbar is narrower
    tech             technology preset name under ``dse/tech/`` (energy and area data)
    backend          where the simulation runs: ``cpu`` or ``cuda`` (an NVIDIA GPU, the same results bit
                     for bit; ``kernels.cuda``); not a design parameter, so never searched
    """

    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    weight_bits: int = 8
    input_bits: int = 8
    dac_bits: int = 1
    adc_bits: int = 8
    adc_range: str = "full"
    adc_percentile: float = 99.99
    weight_flip: bool = False
    mapping: str = "differential"
    cols_per_adc: int | None = field(default=None, metadata={"default": "min(128, cols)"})  # resolved on creation
    tech: str = "default"
    backend: str = "cpu"

    ALLOWED = {  # no annotation: a class attribute, not a field (dataclasses list ClassVars among their fields)
        "rows": Interval(int, 1, 4096), "cols": Interval(int, 1, 4096), "cell_bits": Interval(int, 1, 8),
        "weight_bits": Interval(int, 2, 16), "input_bits": Interval(int, 1, 16), "dac_bits": Interval(int, 1, 8),
        "adc_bits": Interval(int, 1, 24), "adc_range": OneOf(ADC_RANGES), "adc_percentile": Interval(float, 50.0, 100.0),
        "weight_flip": Boolean(), "mapping": OneOf(MAPPINGS),
        # cols_per_adc: 1..cols, a rule of two fields (checked in __post_init__, and by studies per design)
        "tech": PresetName("technology preset name"), "backend": Checked(check_backend),
    }

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "cell_bits", "weight_bits", "input_bits", "dac_bits", "adc_bits", "adc_range",
                     "adc_percentile", "weight_flip", "mapping"):
            check_field(self, name)
        if self.cols_per_adc is None:  # the default follows narrow crossbars (searching cols needs no pairing)
            object.__setattr__(self, "cols_per_adc", min(DEFAULT_COLS_PER_ADC, self.cols))
        Interval(int, 1, self.cols).check("cols_per_adc", self.cols_per_adc)  # at most one ADC per bit line
        check_field(self, "tech")
        check_field(self, "backend")

    @property
    def arrays(self) -> int:
        """Crossbar arrays per weight matrix: 2 for differential, 1 for offset mapping."""
        return 2 if self.mapping == "differential" else 1

    @property
    def slices(self) -> int:
        """Cells (bit slices) per weight magnitude, least significant first."""
        magnitude_bits = self.weight_bits - 1 if self.mapping == "differential" else self.weight_bits
        return -(-magnitude_bits // self.cell_bits)

    @property
    def cycles(self) -> int:
        """Input cycles per matrix-vector product (bit-serial DAC)."""
        return -(-self.input_bits // self.dac_bits)

    def replace(self, **changes: Any) -> "HardwareConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "HardwareConfig":
        return _from_dict(cls, values)


@dataclass(frozen=True)
class FaultScenario:
    """Stuck-at faults of one study: rates per cell, spatial model and Monte Carlo sampling.

    sa0_rate   probability a cell is stuck at high resistance (OFF, lowest level 0)
    sa1_rate   probability a cell is stuck at low resistance (ON, highest level 2**cell_bits - 1)
    fault_model  iid (every cell independent) or column (faults clustered along bit lines)
    n_chips    simulated chips (independent fault maps) per evaluation
    seed       chip ``c`` samples its maps from the generator seeded by (seed, c, layer)

    What the chip's repair logic knows (``docs/tolerance.md``, "An imperfect test"). The defaults (all 0)
    are a perfect post-fabrication test, nothing failing after it and stuck cells exactly at G_min / G_max.
    test_escape_rate  fraction of the stuck cells the post-fabrication test misses: protections that use
                   the tested fault map never see them, the simulation still applies them
    post_test_rate  probability that a healthy cell becomes stuck after the test and programming, SA0 : SA1
                   in the ratio ``sa0_rate : sa1_rate``; unknown to the repair logic. iid whatever
                   ``fault_model`` says
    stuck_level_spread  sigma of a stuck cell's conductance relative to its nominal value (G_min for SA0,
                   G_max for SA1); runs the analog float path. The repair logic programs against the
                   nominal value
    """

    sa0_rate: float = 0.0
    sa1_rate: float = 0.0
    fault_model: str = "iid"
    n_chips: int = 8
    seed: int = 0
    test_escape_rate: float = 0.0
    post_test_rate: float = 0.0
    stuck_level_spread: float = 0.0

    ALLOWED = {  # no annotation: a class attribute, not a field (dataclasses list ClassVars among their fields)
        "sa0_rate": Interval(float, 0.0, 1.0), "sa1_rate": Interval(float, 0.0, 1.0), "fault_model": OneOf(FAULT_MODELS),
        "n_chips": Interval(int, 1, 100_000), "seed": Interval(int, 0, 2**63 - 1),
        "test_escape_rate": Interval(float, 0.0, 1.0), "post_test_rate": Interval(float, 0.0, 1.0),
        "stuck_level_spread": Interval(float, 0.0, 1.0),
    }

    def __post_init__(self) -> None:
        check_field(self, "sa0_rate")
        check_field(self, "sa1_rate")
        if self.sa0_rate + self.sa1_rate > 1.0:
            raise ValueError(
                f"sa0_rate + sa1_rate must be <= 1, got {self.sa0_rate} + {self.sa1_rate}"
            )
        for name in ("fault_model", "n_chips", "seed", "test_escape_rate", "post_test_rate", "stuck_level_spread"):
            check_field(self, name)
        if self.post_test_rate and self.total_rate == 0:
            raise ValueError("post_test_rate splits SA0 : SA1 in the ratio sa0_rate : sa1_rate, which needs "
                             f"sa0_rate + sa1_rate > 0; got post_test_rate {self.post_test_rate} with no stuck-at rate")

    @property
    def total_rate(self) -> float:
        return self.sa0_rate + self.sa1_rate

    @property
    def post_test_rates(self) -> tuple[float, float]:
        """(SA0, SA1) probability of a healthy cell failing after the test: ``post_test_rate`` split in
        the scenario's own ratio."""
        if not self.post_test_rate:
            return 0.0, 0.0
        share = self.sa1_rate / self.total_rate
        return self.post_test_rate * (1.0 - share), self.post_test_rate * share

    @property
    def hidden_faults(self) -> bool:
        """Whether any stuck cell is unknown to the repair logic (a test escape or a post-test failure)."""
        return bool(self.post_test_rate or (self.test_escape_rate and self.total_rate))

    def replace(self, **changes: Any) -> "FaultScenario":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FaultScenario":
        return _from_dict(cls, values)


PRUNE_METHODS = ("magnitude", "gates")  # dse.pruning: magnitude (group norms) or learned L0 gates
DUP_BUDGETS = ("pruned", "unpruned")
MAX_PRUNE = 0.9  # the largest fraction of a layer's rows or columns that pruning may remove
# Protection fields that hold one prune fraction per layer, and the global field each one overrides.
PER_LAYER_FIELDS = {"row_prune_layers": "row_prune", "col_prune_layers": "col_prune"}


def split_layer_key(name: str) -> tuple[str, str] | None:
    """``("row_prune_layers", "fc1")`` for the parameter / column name ``row_prune_layers.fc1``, else None.

    The layer part is everything after the first dot, so layer names may hold dots (``block0.query``).
    """
    field, dot, layer = str(name).partition(".")
    return (field, layer) if dot and layer and field in PER_LAYER_FIELDS else None


def layer_key(field: str, layer: str) -> str:
    """The parameter / column name of one layer's value of a per-layer field: ``row_prune_layers.fc1``."""
    return f"{field}.{layer}"


def field_type(cls: type, name: str) -> type:
    """The Python type (int, float, str or bool) of a config dataclass field: the type its values
    take once the config exists (``int`` for ``int | None``, whose None is a default resolved on
    creation), float for each layer of a per-layer field."""
    if name in PER_LAYER_FIELDS or split_layer_key(name):
        return float
    hint = typing.get_type_hints(cls)[name]
    members = [t for t in typing.get_args(hint) if t is not type(None)]
    return members[0] if len(members) == 1 else hint


@dataclass(frozen=True)
class Protection:
    """Fault protection of one design point (the zero-space method and its baselines).

    row_prune, col_prune  fraction of weight rows (word lines) / columns (outputs) removed per layer
    row_prune_layers, col_prune_layers  per-layer fractions that override the global one for the layers
                   they name: ``{"fc1": 0.5}`` or ``(("fc1", 0.5),)``, stored as (name, fraction) pairs
                   sorted by name (so equal designs compare and hash equal); the names are checked
                   against the workload's layers when the network is mapped (and by a study before any
                   trial runs). A classifier's last layer keeps its columns (its classes).
    prune_method   magnitude (group-norm baseline) or gates (differentiable L0 gates, fine-tuned)
    dup_copies     copies of each protected bit line placed in freed columns (1 = no duplication)
    dup_slices     most significant slices that are duplicated
    dup_budget     where copies may go: ``pruned`` (the free columns of the crossbars the pruned layer
                   occupies) or ``unpruned`` (every crossbar the unpruned layer would occupy: the paper's
                   "zero space", no crossbar beyond the original model's)
    vote           how copies are combined: median, mean, or test-aware (the copy the
                   post-fabrication test found healthy wins)
    msb_embed      most significant slices whose duplicate is embedded in the cells freed by
                   quantising the least significant slice(s) away (0 = off)
    spare_cols     baseline: MSB slices copied into extra (spare) crossbars (0 = off); costs crossbars
    remap          baseline: permute logical rows so important weights avoid known stuck cells
    compensate     program each chip's healthy cells from its tested fault map so that every weight's
                   value survives its stuck cells where the cell ranges allow (a stuck-ON cell is
                   cancelled in the other array of the differential pair, lower slices fill in); no
                   space, no conversions; needs a linear vote (mean or test-aware) when groups hold 3
                   copies. See dse/protection/chip.py.
    """

    row_prune: float = 0.0
    col_prune: float = 0.0
    row_prune_layers: tuple[tuple[str, float], ...] = ()
    col_prune_layers: tuple[tuple[str, float], ...] = ()
    prune_method: str = "magnitude"
    dup_copies: int = 1
    dup_slices: int = 1
    dup_budget: str = "pruned"
    vote: str = "median"
    msb_embed: int = 0
    spare_cols: int = 0
    remap: bool = False
    compensate: bool = False

    ALLOWED = {  # no annotation: a class attribute, not a field (dataclasses list ClassVars among their fields)
        "row_prune": Interval(float, 0.0, MAX_PRUNE), "col_prune": Interval(float, 0.0, MAX_PRUNE),
        "row_prune_layers": LayerFractions(MAX_PRUNE), "col_prune_layers": LayerFractions(MAX_PRUNE),
        "prune_method": OneOf(PRUNE_METHODS), "dup_copies": Interval(int, 1, 3), "dup_slices": Interval(int, 0, 16),
        "dup_budget": OneOf(DUP_BUDGETS), "vote": OneOf(VOTES), "msb_embed": Interval(int, 0, 8),
        "spare_cols": Interval(int, 0, 16), "remap": Boolean(), "compensate": Boolean(),
    }

    def __post_init__(self) -> None:
        for name in self.ALLOWED:
            check_field(self, name)

    @property
    def is_none(self) -> bool:
        return self == Protection()

    @property
    def needs_fault_map(self) -> bool:
        """Whether this protection needs each chip's tested fault map (a post-fabrication test of every
        cell, stored and used when the chip is programmed): test-aware votes, remap and compensate do;
        pruning, duplication with median / mean votes, MSB embedding and spare columns read blindly do
        not (``docs/tolerance.md``, "What a protection needs")."""
        return self.vote == "test-aware" or self.remap or self.compensate

    @property
    def prunes(self) -> bool:
        """Whether any layer loses rows or columns (globally or per layer)."""
        return bool(self.row_prune or self.col_prune
                    or any(f for _, f in self.row_prune_layers) or any(f for _, f in self.col_prune_layers))

    def prune_fractions(self, layers: Sequence[str], col_layers: Sequence[str] | None = None,
                        workload: str = "the workload") -> tuple[dict[str, float], dict[str, float]]:
        """(rows, columns): the prune fraction of every layer in ``layers``, the per-layer value where
        one is given, else the global ``row_prune`` / ``col_prune``.

        ``col_layers`` are the layers whose columns can be pruned (default: all); a per-layer column
        fraction for any other layer, or a per-layer value for a layer not in ``layers``, raises a
        ValueError naming the field, the layer and the allowed names.
        """
        layers = list(layers)
        col_layers = layers if col_layers is None else list(col_layers)
        result = []
        for name, allowed in (("row_prune_layers", layers), ("col_prune_layers", col_layers)):
            given = dict(getattr(self, name))
            for layer in given:
                if layer not in allowed:
                    why = (f"{layer!r} is not a layer of {workload}" if layer not in layers else
                           f"the columns of {layer!r} are never pruned in {workload} (a classifier's last "
                           "layer keeps its classes; a transformer's key columns follow its query columns)")
                    raise ValueError(f"{name}: {why}; allowed: {', '.join(allowed)}")
            result.append(per_layer(given, layers, getattr(self, PER_LAYER_FIELDS[name]), name, MAX_PRUNE))
        return result[0], result[1]

    def to_columns(self) -> dict[str, Any]:
        """Flat values for a table row: every scalar field, then one ``row_prune_layers.<layer>`` /
        ``col_prune_layers.<layer>`` entry per layer given (the Parquet columns of a study)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in PER_LAYER_FIELDS}
        for name in PER_LAYER_FIELDS:
            values.update({layer_key(name, layer): fraction for layer, fraction in getattr(self, name)})
        return values

    def replace(self, **changes: Any) -> "Protection":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Protection":
        return _from_dict(cls, values)


@dataclass(frozen=True)
class AnalogEffects:
    """Analog non-idealities beside stuck-at faults, all off by default (``docs/nonideal.md``).

    Any effect switches a chip to the float column-sum path (``kernels/analog.py``); with all of them
    off the exact integer path runs, unchanged. Conductances are counted in level steps
    ``(G_max - G_min) / (2**cell_bits - 1)``. Every draw is per chip and per layer, seeded by
    ``(FaultScenario.seed, chip, layer)``, so chips stay independent of order and worker count.

    variation        sigma of each programmed cell's conductance, as a fraction of the range
                     ``G_max - G_min`` (Milo 2021: 0.016 - 0.025; Wan 2022: 0.04 - 0.06; MNSIM default 0.05)
    variation_table  the same per target level (level 0 first, ``2**cell_bits`` entries); replaces
                     ``variation`` (set one or the other)
    on_off_ratio     ``G_max / G_min`` (> 1; inf: a level-0 cell conducts nothing). A reference current of
                     nominal ``G_min`` per driven row is subtracted before each ADC, so the ratio matters
                     through read noise, drift and variation of level-0 cells, not by itself
    read_noise       sigma of every read (every input cycle, fresh) relative to the cell's conductance
    drift_t_s        seconds since programming; 0 = no drift, otherwise at least ``drift_t0_s``
    drift_t0_s       reference time of the drift law ``G(t) = G(t0) * (t / t0) ** -nu``, seconds
    drift_nu         drift exponent of every level (> 0: conductance decays)
    drift_nu_table   the drift exponent per cell level (level 0 first, ``2**cell_bits`` entries); replaces
                     ``drift_nu``
    adc_offset       sigma of each ADC's input-referred offset, in LSB
    adc_gain_error   sigma of each ADC's relative gain error (0.01 = 1 %)
    adc_inl          peak |INL| of each ADC, in LSB (a smooth random curve per ADC, zero at both ends)
    Bit lines that share an ADC (``HardwareConfig.cols_per_adc``) share its offset, gain and INL.
    """

    variation: float = 0.0
    variation_table: tuple = ()
    on_off_ratio: float = math.inf
    read_noise: float = 0.0
    drift_t_s: float = 0.0
    drift_t0_s: float = 1.0
    drift_nu: float = 0.0
    drift_nu_table: tuple = ()
    adc_offset: float = 0.0
    adc_gain_error: float = 0.0
    adc_inl: float = 0.0

    ALLOWED = {  # no annotation: a class attribute, not a field (dataclasses list ClassVars among their fields)
        "variation": Interval(float, 0.0, 1.0), "variation_table": LevelTable(0.0, 1.0),
        "read_noise": Interval(float, 0.0, 1.0), "drift_t0_s": Interval(float, 0.0, 1e12, low_open=True),
        "drift_t_s": Interval(float, 0.0, 1e12), "drift_nu": Interval(float, -1.0, 1.0),
        "drift_nu_table": LevelTable(-1.0, 1.0), "adc_offset": Interval(float, 0.0, 1e6),
        "adc_gain_error": Interval(float, 0.0, 0.5), "adc_inl": Interval(float, 0.0, 1e6),
    }

    def __post_init__(self) -> None:
        check_field(self, "variation")
        check_field(self, "variation_table")
        if self.variation and self.variation_table:
            raise ValueError("set variation (one sigma for every level) or variation_table (one per level), not both")
        ratio = self.on_off_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or math.isnan(ratio) or ratio <= 1:
            raise ValueError(f"on_off_ratio must be a number > 1 (G_max / G_min; inf for an ideal OFF state), "
                             f"got {ratio!r}")
        object.__setattr__(self, "on_off_ratio", float(ratio))
        check_field(self, "read_noise")
        check_field(self, "drift_t0_s")
        check_field(self, "drift_t_s")
        if 0 < self.drift_t_s < self.drift_t0_s:
            raise ValueError(f"drift_t_s must be 0 (no drift) or >= drift_t0_s ({self.drift_t0_s} s), "
                             f"got {self.drift_t_s}")
        check_field(self, "drift_nu")
        check_field(self, "drift_nu_table")
        if self.drift_nu and self.drift_nu_table:
            raise ValueError("set drift_nu (one exponent for every level) or drift_nu_table (one per level), not both")
        check_field(self, "adc_offset")
        check_field(self, "adc_gain_error")
        check_field(self, "adc_inl")

    def check(self, hw: HardwareConfig) -> None:
        """Checks that need the hardware: per-level tables have ``2**cell_bits`` entries."""
        levels = 1 << hw.cell_bits
        for name in ("variation_table", "drift_nu_table"):
            table = getattr(self, name)
            if table and len(table) != levels:
                raise ValueError(f"{name} must have one entry per cell level ({levels} for cell_bits = "
                                 f"{hw.cell_bits}, level 0 first), got {len(table)}")

    @property
    def drifts(self) -> bool:
        return self.drift_t_s > 0 and (self.drift_nu != 0 or any(self.drift_nu_table))

    @property
    def active(self) -> bool:
        """Whether any effect changes a result (the on/off ratio alone does not: the reference cancels it)."""
        return bool(self.variation or any(self.variation_table) or self.read_noise or self.drifts
                    or self.adc_offset or self.adc_gain_error or self.adc_inl)

    def sigma_per_level(self, cell_bits: int) -> tuple[float, ...]:
        return self.variation_table or (self.variation,) * (1 << cell_bits)

    def nu_per_level(self, cell_bits: int) -> tuple[float, ...]:
        return self.drift_nu_table or (self.drift_nu,) * (1 << cell_bits)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (an infinite on/off ratio becomes None)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["variation_table"] = list(self.variation_table)
        values["drift_nu_table"] = list(self.drift_nu_table)
        if math.isinf(self.on_off_ratio):
            values["on_off_ratio"] = None
        return values

    def replace(self, **changes: Any) -> "AnalogEffects":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "AnalogEffects":
        values = dict(values)
        if "on_off_ratio" in values and values["on_off_ratio"] is None:
            values["on_off_ratio"] = math.inf
        return _from_dict(cls, values)


# Allowed values of the fields that take one of a fixed set of names, read off each config's ALLOWED
# (the CLI lists them in --help and refuses anything else).
CHOICES: dict[str, tuple[str, ...]] = {
    name: rule.choices for cls in (HardwareConfig, FaultScenario, Protection, AnalogEffects)
    for name, rule in cls.ALLOWED.items() if isinstance(rule, OneOf)
}
