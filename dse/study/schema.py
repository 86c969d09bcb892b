"""The columns of a study's two Parquet tables, declared once: name, Arrow type, unit and meaning.

The writers (:mod:`dse.study.results`) type every column from here and store its unit and description
as Parquet field metadata (keys ``unit`` and ``description``), so any reader finds them::

    pyarrow.parquet.read_schema("results/quickstart/trials.parquet").field("energy_pj").metadata
    # {b'unit': b'pJ', b'description': b'energy per inference (one input sample) ...'}

The metric names the default objective reports (``dse.study.objective``) are the names declared here,
and ``docs/studies.md`` describes the same tables in prose.

Units are written as in the column names (``pJ``, ``um2``, ``mm2``, ``ns``, ``s``, ``GS/s``, ``bit``,
``LSB``, ``%``); ``1`` is a dimensionless number (a fraction, a ratio, a count); ``-`` marks a column
that is not a quantity (a name, a flag, an identifier, a timestamp).

The two tables share only the join keys ``JOIN_KEYS`` (``study``, ``scenario``, ``trial_number``):
a per-layer quantity that also exists for the whole network carries a ``layer_`` prefix
(``layer_crossbars`` beside the trials table's ``crossbars``).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pyarrow as pa

from dse.config import (PER_LAYER_FIELDS, AnalogEffects, FaultScenario, HardwareConfig, Protection, field_help,
                        field_type, split_layer_key)
from dse.cost import COMPONENTS

NOT_A_QUANTITY = "-"
UNIT_KEY, DESCRIPTION_KEY = b"unit", b"description"
# How a trial's numbers sit in the Optuna storage, which the tables are rebuilt from: one user attribute
# per headline metric and bookkeeping column, named as its column, and these three for the rest: every
# config field of the design, the cost breakdown per component, and the trial's rows of the layers table.
DESIGN_ATTR, BREAKDOWN_ATTR, LAYERS_ATTR = "design", "breakdown", "layers"


@dataclass(frozen=True)
class Column:
    """One column of a results table: its name, Arrow type, unit (module docstring) and meaning."""

    name: str
    type: pa.DataType
    unit: str
    description: str

    def field(self, kind: pa.DataType | None = None) -> pa.Field:
        return pa.field(self.name, kind or self.type,
                        metadata={UNIT_KEY: self.unit.encode(), DESCRIPTION_KEY: self.description.encode()})


def _columns(kind: pa.DataType, unit: str, entries: dict[str, str]) -> list[Column]:
    return [Column(name, kind, unit, description) for name, description in entries.items()]


# --------------------------------------------------------------------------------------------------
# The design: every field of the four frozen configs, described by its dataclass docstring
# --------------------------------------------------------------------------------------------------

DESIGN_CLASSES = (HardwareConfig, Protection, FaultScenario, AnalogEffects)
_ARROW = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}
# The unit of every config field (the rest of its description is its dataclass docstring entry).
DESIGN_UNITS: dict[str, str] = {
    # HardwareConfig
    "rows": "1", "cols": "1", "cell_bits": "bit", "weight_bits": "bit", "input_bits": "bit", "dac_bits": "bit",
    "adc_bits": "bit", "adc_range": "-", "adc_percentile": "%", "weight_flip": "-", "mapping": "-",
    "cols_per_adc": "1", "tech": "-", "backend": "-",
    # Protection
    "row_prune": "1", "col_prune": "1", "row_prune_layers": "1", "col_prune_layers": "1", "prune_method": "-",
    "dup_copies": "1", "dup_slices": "1", "dup_budget": "-", "vote": "-", "msb_embed": "1", "spare_cols": "1",
    "remap": "-", "compensate": "-",
    # FaultScenario
    "sa0_rate": "1", "sa1_rate": "1", "fault_model": "-", "n_chips": "1", "seed": "-", "test_escape_rate": "1",
    "post_test_rate": "1", "stuck_level_spread": "1",
    # AnalogEffects
    "variation": "1", "variation_table": "1", "on_off_ratio": "1", "read_noise": "1", "drift_t_s": "s",
    "drift_t0_s": "s", "drift_nu": "1", "drift_nu_table": "1", "adc_offset": "LSB", "adc_gain_error": "1",
    "adc_inl": "LSB",
}


def _design_columns() -> list[Column]:
    """Every config field, typed; per-level tables (tuples) are JSON text. The per-layer prune fractions
    are not here: each layer a study gives gets its own float64 column (:func:`trials_columns`)."""
    columns = []
    for cls in DESIGN_CLASSES:
        described = field_help(cls)
        for f in dataclasses.fields(cls):
            if f.name in PER_LAYER_FIELDS:
                continue
            kind = _ARROW.get(field_type(cls, f.name), pa.string())
            text = described[f.name] + (" (JSON text)" if kind == pa.string() and isinstance(f.default, tuple) else "")
            columns.append(Column(f.name, kind, DESIGN_UNITS[f.name], f"{cls.__name__}.{f.name}: {text}"))
    return columns


# --------------------------------------------------------------------------------------------------
# What the default objective reports (dse.study.objective.evaluate_design)
# --------------------------------------------------------------------------------------------------

ACCURACY_COLUMNS = [
    Column("accuracy_mean", pa.float64(), "1", "mean over the simulated chips of the workload's test score "
           "(accuracy: the fraction of test samples classified correctly)"),
    Column("accuracy_min", pa.float64(), "1", "the worst simulated chip's test score"),
    Column("accuracy_std", pa.float64(), "1", "sample standard deviation (ddof 1) of the chips' test scores "
           "(0 with one chip)"),
    Column("accuracy_ci95", pa.float64(), "1", "half-width of the 95 % Student-t confidence interval of "
           "accuracy_mean over the chips (NaN with one chip)"),
    Column("float_accuracy", pa.float64(), "1", "test score of the float model as given (unquantised, no "
           "crossbars, not pruned)"),
    Column("ideal_accuracy", pa.float64(), "1", "test score of the mapped model on a fault-free chip "
           "(quantised, pruned and protected as designed, the same ADC)"),
]
# The cost report's totals (dse.cost.model.CostReport.to_dict).
COST_COLUMNS = [
    Column("energy_pj", pa.float64(), "pJ", "energy per inference (one input sample), every component of "
           "the cost model (docs/cost.md)"),
    Column("area_um2", pa.float64(), "um2", "area of the crossbars used with their periphery and their "
           "share of the tile-level circuits"),
    Column("area_mm2", pa.float64(), "mm2", "area_um2 in mm2"),
    Column("latency_ns", pa.float64(), "ns", "one inference, the layers one after another"),
    Column("pipeline_interval_ns", pa.float64(), "ns", "time between inferences with the layers pipelined "
           "(the slowest layer's latency)"),
    Column("cycle_ns", pa.float64(), "ns", "one input cycle: the array read plus sample-and-hold, or the ADC "
           "sweeping its cols_per_adc columns"),
    Column("crossbars", pa.int64(), "1", "crossbars the network uses, spare crossbars included"),
    Column("spare_crossbars", pa.int64(), "1", "of those, crossbars added only to hold redundant copies "
           "(spare_cols)"),
    Column("adc_conversions", pa.int64(), "1", "ADC conversions per inference, copy bit lines included"),
    Column("extra_adc_conversions", pa.int64(), "1", "of those, conversions of duplicated (copy) bit lines"),
    Column("macs", pa.int64(), "1", "logical multiply-accumulates per inference (after pruning)"),
    Column("energy_per_mac_pj", pa.float64(), "pJ", "energy_pj / macs"),
    Column("crossbar_energy_per_mac_pj", pa.float64(), "pJ", "crossbar-level energy (array, DACs, ADCs, "
           "sample-and-hold, shift-add, registers, vote, flip) per MAC"),
    Column("adc_rate_gsps", pa.float64(), "GS/s", "conversions per second each ADC makes (cols_per_adc per "
           "cycle), the rate its energy and area are modelled at"),
]
BREAKDOWN_COLUMNS = (
    [Column(f"energy_{c}_pj", pa.float64(), "pJ", f"energy per inference of the cost model's {c} component "
            "(docs/cost.md), summed over the layers") for c in COMPONENTS]
    + [Column(f"area_{c}_um2", pa.float64(), "um2", f"area of the cost model's {c} component (docs/cost.md), "
              "summed over the layers") for c in COMPONENTS])
METRIC_COLUMNS = ACCURACY_COLUMNS + COST_COLUMNS + BREAKDOWN_COLUMNS

# --------------------------------------------------------------------------------------------------
# The trials table
# --------------------------------------------------------------------------------------------------

JOIN_KEYS = ("study", "scenario", "trial_number")
KEY_COLUMNS = [
    Column("study", pa.string(), "-", "study name ([study] name of the study file)"),
    Column("scenario", pa.string(), "-", "fault scenario name (default for a single [faults] table); each "
           "scenario is its own Optuna study"),
    Column("trial_number", pa.int64(), "-", "Optuna's trial number within the scenario's study; with study "
           "and scenario the key joining the trials and layers tables"),
]
_METRIC = {c.name: c for c in METRIC_COLUMNS}

# The documented, stable columns of the trials table, in order. The metrics the objective reports
# beyond these (the rest of the cost report, the workload's own metrics, the breakdown) and the
# constraint_<metric> columns follow in the order they are reported (:func:`column` describes them).
TRIALS_COLUMNS: list[Column] = [
    *KEY_COLUMNS,
    Column("state", pa.string(), "-", "Optuna trial state: COMPLETE (only completed trials are rows)"),
    Column("workload", pa.string(), "-", "workload: a built-in name or the model file the study names"),
    *_design_columns(),
    Column("needs_fault_map", pa.bool_(), "-", "the design's protection needs each chip's tested fault map "
           "(a test-aware vote, remap or compensate; Protection.needs_fault_map)"),
    *(_METRIC[name] for name in ("accuracy_mean", "accuracy_std", "accuracy_ci95", "accuracy_min",
                                 "float_accuracy", "ideal_accuracy", "energy_pj", "area_um2", "area_mm2",
                                 "latency_ns", "crossbars", "adc_conversions")),
    Column("feasible", pa.bool_(), "-", "every constraint of the study is met"),
    Column("is_pareto", pa.bool_(), "-", "non-dominated on the study's objectives among the scenario's "
           "feasible rows that do not repeat an earlier design (reused_from null)"),
    Column("sampler", pa.string(), "-", "the Optuna sampler ([sampler] name of the study file as last run)"),
    Column("sampler_seed", pa.int64(), "-", "the sampler's seed ([sampler] seed)"),
    Column("wall_time_s", pa.float64(), "s", "time the trial's evaluation took (0 when reused_from is set)"),
    Column("reused_from", pa.int64(), "-", "the earlier trial with the same parameters whose numbers this "
           "row repeats (null when evaluated)"),
    Column("datetime_start", pa.timestamp("us", tz="UTC"), "-", "when Optuna started the trial (UTC)"),
    Column("datetime_complete", pa.timestamp("us", tz="UTC"), "-", "when the trial completed (UTC)"),
    Column("package_version", pa.string(), "-", "the reram-dse version that evaluated the trial"),
    Column("simulator", pa.string(), "-", "<version>+<hash> of the code that computed the row "
           "(dse.study.provenance.simulator_fingerprint)"),
]


def trials_columns(spec) -> list[Column]:
    """The stable columns of one study's trials table: ``TRIALS_COLUMNS`` with a float64 column per
    per-layer prune fraction the study fixes or searches (``row_prune_layers.<layer>``, then
    ``col_prune_layers.<layer>``, in network order) right after ``col_prune``."""
    at = [c.name for c in TRIALS_COLUMNS].index("col_prune") + 1
    return TRIALS_COLUMNS[:at] + [column(name) for name in spec.layer_columns()] + TRIALS_COLUMNS[at:]


# --------------------------------------------------------------------------------------------------
# The layers table: one row per mapped layer per completed trial
# --------------------------------------------------------------------------------------------------

LAYER_COLUMNS: list[Column] = [
    Column("name", pa.string(), "-", "the layer's name in the workload (row_prune_layers.<name> in the "
           "trials table)"),
    Column("in_features", pa.int64(), "1", "word lines driven per matrix-vector product, after pruning"),
    Column("out_features", pa.int64(), "1", "logical outputs per matrix-vector product, after pruning"),
    Column("layer_row_prune", pa.float64(), "1", "fraction of the layer's weight rows removed, as realised: "
           "1 - in_features / rows of the unpruned layer (its own row pruning plus the rows left dead by the "
           "previous layer's pruned columns)"),
    Column("layer_col_prune", pa.float64(), "1", "fraction of the layer's weight columns (outputs) removed, "
           "as realised: 1 - out_features / columns of the unpruned layer"),
    Column("bitlines", pa.int64(), "1", "physical bit lines read per row tile, copies included"),
    Column("copy_bitlines", pa.int64(), "1", "of those, bit lines holding duplicated copies (voted digitally)"),
    Column("row_tiles", pa.int64(), "1", "crossbar row tiles: ceil(in_features / rows)"),
    Column("layer_crossbars", pa.int64(), "1", "crossbars the layer uses, spare crossbars included"),
    Column("layer_spare_crossbars", pa.int64(), "1", "of those, crossbars added only to hold redundant copies"),
    Column("mvms_per_inference", pa.int64(), "1", "matrix-vector products per inference (1 for a linear "
           "layer, the output positions of a convolution)"),
    Column("weights", pa.int64(), "1", "logical weights mapped: in_features * out_features"),
    Column("layer_macs", pa.int64(), "1", "logical multiply-accumulates per inference: weights * "
           "mvms_per_inference"),
    Column("layer_adc_conversions", pa.int64(), "1", "ADC conversions per inference, copy bit lines included"),
    Column("layer_extra_adc_conversions", pa.int64(), "1", "of those, conversions of copy bit lines"),
    Column("layer_energy_pj", pa.float64(), "pJ", "the layer's energy per inference, every component of the "
           "cost model (its share of the tile circuits included); the trials table's energy_pj is their sum"),
    Column("layer_area_um2", pa.float64(), "um2", "the layer's crossbars with their periphery and their share "
           "of the tile circuits; area_um2 is their sum"),
    Column("layer_latency_ns", pa.float64(), "ns", "the layer's matrix-vector products one after another on "
           "its crossbars; latency_ns is their sum, pipeline_interval_ns their maximum"),
    Column("adc_step", pa.float64(), "1", "ADC step in column-sum units (level steps of one cell): a power "
           "of two for full range, 1 for clip, calibrated otherwise"),
    Column("adc_saturation", pa.float64(), "1", "fraction of the layer's conversions that hit the ADC's top "
           "code, over every simulated chip"),
    Column("output_error", pa.float64(), "1", "relative error of the layer's output on the crossbars, mean "
           "over the simulated chips: ||y - x_int @ w_int|| / ||x_int @ w_int|| (Frobenius norms over the "
           "test batch) where y is the layer's integer output on the chip (faults, ADC, analog effects) and "
           "x_int @ w_int the exact product of the same quantised inputs and weights; so it measures the "
           "layer's own error, not the error its inputs bring from earlier layers. NaN when no chip ran"),
]
LAYERS_COLUMNS = KEY_COLUMNS + LAYER_COLUMNS

# --------------------------------------------------------------------------------------------------
# Columns named by pattern, and metrics of other objectives
# --------------------------------------------------------------------------------------------------

_KNOWN = {c.name: c for c in TRIALS_COLUMNS + METRIC_COLUMNS + LAYER_COLUMNS}
_UNIT_SUFFIXES = (("_pj", "pJ"), ("_um2", "um2"), ("_mm2", "mm2"), ("_ns", "ns"), ("_s", "s"), ("_gsps", "GS/s"))


def column(name: str, kind: pa.DataType | None = None) -> Column:
    """The column ``name`` of either table, also the ones named by pattern: ``row_prune_layers.<layer>``,
    ``constraint_<metric>``, a workload's own metrics ``<name>_mean`` / ``ideal_<name>``. A metric
    reported by another objective (``run_study(objective=...)``) is described as such, its unit read
    from its name's suffix (``_pj``, ``_um2``, ``_ns``, ...) or ``unknown``. ``kind``: the type when
    the name is not declared (a type inferred from the values)."""
    if name in _KNOWN:
        return _KNOWN[name]
    kind = kind or pa.float64()
    layered = split_layer_key(name)
    if layered is not None:
        field, layer = layered
        return Column(name, pa.float64(), "1", f"the design's {PER_LAYER_FIELDS[field].replace('_', ' ')} "
                      f"fraction for layer {layer} (Protection.{field}; overrides {PER_LAYER_FIELDS[field]})")
    if name.startswith("constraint_"):
        metric = column(name[len("constraint_"):])
        return Column(name, pa.float64(), metric.unit, f"violation of the study's constraint on "
                      f"{metric.name}: bound - value for >=, value - bound for <= (<= 0 when met)")
    match = re.fullmatch(r"(?:(?P<mean>.+)_mean|ideal_(?P<ideal>.+))", name)
    if match and _workload_metric(match["mean"] or match["ideal"]):
        metric = match["mean"] or match["ideal"]
        what = "mean over the simulated chips" if match["mean"] else "on a fault-free chip (the mapped model)"
        return Column(name, kind, "1", f"the workload's own metric {metric}, {what} (docs/transformer.md)")
    unit = next((u for suffix, u in _UNIT_SUFFIXES if name.endswith(suffix)), "unknown")
    return Column(name, kind, unit, "reported by the study's objective function (not a built-in metric of "
                  "evaluate_design; its unit read from the name's suffix where it has one)")


def _workload_metric(name: str) -> bool:
    """Whether ``name`` is a metric some built-in workload reports (``WorkloadInfo.metrics``)."""
    from dse.workloads.transformer import TransformerWorkload

    return name in TransformerWorkload.metric_names

