"""Parquet result tables, regenerated from the Optuna storage (the source of truth).

``trials.parquet`` holds one row per completed trial, ``_layers/layers.parquet`` one row per layer per
completed trial (their columns, units and meanings: :mod:`dse.study.schema`, and docs/studies.md); where
every file of a results folder lives is :mod:`dse.study.folder`.

Both tables are rewritten whole from the storage (a dot-named temp file, fsync, then ``os.replace``):
a killed run leaves the previous complete table, and rows match Optuna's completed trials one to one,
resumed or not. The per-layer table is written first, so every trial in the trials table has its layers.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dse import atomic
from dse.config import PER_LAYER_FIELDS, Protection, layer_key
from dse.hypervolume import default_ideal, default_reference, hypervolume
from dse.study.folder import JOURNAL_FILE, LAYERS_FILE, STUDY_COPY, TRIALS_FILE
from dse.study.schema import (BREAKDOWN_ATTR, DESIGN_ATTR, DESIGN_CLASSES, JOIN_KEYS, KEY_COLUMNS, LAYER_COLUMNS,
                              LAYERS_ATTR, TRIALS_COLUMNS, Column, column, trials_columns)

METADATA_KEY = b"dse"

_ARROW = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}


def column_clash(name: str) -> str | None:
    """What ``name`` is when a metric may not take it: a column of the trials table that is not a metric
    (a design, key, constraint or bookkeeping column), which a metric of that name would overwrite; None
    when it is free. Checked when a study is parsed (its objectives, constraints and the workload's own
    metrics), when an objective declares what it reports (``dse.study.reports``) and on every trial."""
    from dse.study.objective import METRICS

    if name in METRICS:
        return None
    if name.startswith("constraint_"):
        return "a constraint column (constraint_<metric> holds how far a constraint is from being met)"
    per_layer = next((f for f in PER_LAYER_FIELDS if name == f or name.startswith(f + ".")), None)
    if per_layer is not None:
        return f"a design column (Protection.{per_layer}, one column per layer)"
    for cls in DESIGN_CLASSES:
        if name in {f.name for f in dataclasses.fields(cls)}:
            return f"a design column (the {cls.__name__} field {name})"
    if name in JOIN_KEYS:
        return "a key column (study, scenario, trial_number identify a row)"
    if name in {c.name for c in TRIALS_COLUMNS}:
        return "a bookkeeping column of the trials table"
    if name in {c.name for c in LAYER_COLUMNS}:  # the tables share only their join keys
        return "a column of the layers table (a join of the two tables would mix them)"
    return None


def metric_clash_message(names) -> str | None:
    """One line naming every metric of ``names`` that ``column_clash`` refuses, and what is allowed."""
    clashes = [f"{name} is {what}" for name in dict.fromkeys(names) if (what := column_clash(name))]
    if not clashes:
        return None
    return (f"metric(s) named like columns of the trials table: {'; '.join(clashes)}; allowed: the metrics "
            "evaluate_design reports (dse.study.objective.METRICS) and any other name that is not a design "
            "field, key column (study, scenario, trial_number), constraint_<metric> or bookkeeping column "
            "(docs/studies.md, Trials table)")


def export(spec, storage, out: str | Path) -> pd.DataFrame:
    """Rewrite ``trials.parquet`` and ``_layers/layers.parquet`` from the storage; return the trials."""
    import optuna
    from optuna.trial import TrialState

    out = Path(out)
    trial_rows, layer_rows = [], []
    anchor = None  # the first scenario's first completed design, once every earlier trial has finished
    for index, scenario in enumerate(spec.scenarios):
        try:
            study = optuna.load_study(study_name=spec.optuna_name(scenario), storage=storage)
        except KeyError:  # this scenario has not started yet
            continue
        rows = []
        if index == 0:
            for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
                if trial.state == TrialState.COMPLETE:
                    anchor = _trial_row(spec, scenario.name, trial)
                if trial.state not in (TrialState.PRUNED, TrialState.FAIL):
                    break  # complete (the anchor) or still running (no anchor yet)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rows.append(_trial_row(spec, scenario.name, trial))
            key = {"study": spec.name, "scenario": scenario.name, "trial_number": trial.number}
            layer_rows += [{**key, **layer} for layer in trial.user_attrs.get(LAYERS_ATTR, [])]
        _mark_pareto(rows, spec)
        trial_rows += rows
    metadata = {
        "study": spec.name,
        "workload": spec.workload,
        "objectives": [[o.metric, o.direction] for o in spec.objectives],
        "constraints": [str(c) for c in spec.constraints],
        "scenarios": [s.name for s in spec.scenarios],
        "searched": [p.name for p in spec.search],
        "owner": spec.owner(),  # what `dse run` checks before it resumes into this folder
        "hypervolume": _hypervolume_box(spec, anchor, out),
    }
    trials = _to_table(trial_rows, trials_columns(spec), metadata)
    write_atomic(_to_table(layer_rows, KEY_COLUMNS, metadata), out / LAYERS_FILE)
    write_atomic(trials, out / TRIALS_FILE)
    return trials.to_pandas()


def _trial_row(spec, scenario: str, trial) -> dict[str, Any]:
    attrs = dict(trial.user_attrs)
    attrs.pop(LAYERS_ATTR, None)  # the per-layer table's rows
    raw = attrs.pop(DESIGN_ATTR, {})
    design = {}
    for key, value in raw.items():
        if key in PER_LAYER_FIELDS:  # [[layer, fraction], ...]: one column per layer
            design.update({layer_key(key, layer): float(fraction) for layer, fraction in value})
        else:
            design[key] = json.dumps(value) if isinstance(value, list) else value
    breakdown = attrs.pop(BREAKDOWN_ATTR, {})
    protection = Protection(**{f.name: raw[f.name] for f in dataclasses.fields(Protection) if f.name in raw})
    row = {
        "study": spec.name,
        "scenario": scenario,
        "trial_number": trial.number,
        "state": trial.state.name,
        "workload": spec.workload,
        **design,
        **trial.params,  # the searched values exactly as Optuna stored them (same as in design)
        "needs_fault_map": protection.needs_fault_map,  # derived, so it cannot disagree with the design
        **attrs,          # the headline metrics, wall_time_s, package_version, reused_from
        **breakdown,      # the rest of the metrics (cost per component)
        **{f"constraint_{c.metric}": trial.constraints.get(c.metric) for c in spec.constraints},  # <= 0 when met
        "sampler": spec.sampler.name,
        "sampler_seed": spec.sampler.seed,
        "datetime_start": _utc(trial.datetime_start),
        "datetime_complete": _utc(trial.datetime_complete),
    }
    row["feasible"] = all(trial.constraints.get(c.metric, 1.0) <= 0 for c in spec.constraints)
    return row


def _mark_pareto(rows: list[dict[str, Any]], spec) -> None:
    """``is_pareto``: non-dominated among the feasible rows of one scenario, on the study objectives.

    A row that repeats an earlier design (``reused_from`` set) is never marked, so counting
    ``is_pareto`` counts distinct designs.
    """
    feasible = [r for r in rows if r["feasible"] and r.get("reused_from") is None]
    values = np.array([[r[o.metric] for o in spec.objectives] for r in feasible], dtype=float)
    mask = pareto_mask(values, spec.directions) if len(feasible) else []
    for row in rows:
        row["is_pareto"] = False
    for row, on_front in zip(feasible, mask):
        row["is_pareto"] = bool(on_front)


def _utc(moment):
    """Optuna's naive local datetime as an aware UTC one (None stays None)."""
    import datetime

    return None if moment is None else moment.astimezone(datetime.timezone.utc)


def json_safe(value):
    """``value`` with every non-finite float (inf, nan) replaced by None, through dicts and lists."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _to_table(rows: list[dict[str, Any]], known: list[Column], metadata) -> pa.Table:
    """A table of ``rows``: the ``known`` columns first, typed as declared, then the other keys of the rows
    in the order they are reported, typed from their values; every field carries its unit and description
    (:mod:`dse.study.schema`)."""
    names = {c.name for c in known}
    extra = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in names]  # as reported
    fields = [c.field() for c in known]
    for name in extra:
        kind = _arrow_type([row.get(name) for row in rows])
        fields.append(column(name).field(kind or pa.string()))
        if kind is None:  # anything else (lists, tables): keep it readable as JSON text
            for row in rows:
                if name in row:
                    row[name] = json.dumps(row[name])
    # Standard JSON (no Infinity/NaN tokens, which other readers refuse): non-finite numbers become null.
    schema = pa.schema(fields, metadata={METADATA_KEY: json.dumps(json_safe(metadata), allow_nan=False).encode()})
    return pa.Table.from_pylist(rows, schema=schema)


def _arrow_type(values: list[Any]) -> pa.DataType | None:
    """Column type of reported values: int64 or float64 for numbers, bool, string; None otherwise."""
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {int, float}:
        return pa.float64() if float in kinds else pa.int64()
    if len(kinds) == 1 and kinds <= {str, bool}:
        return _ARROW[kinds.pop()]
    return None


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file with :func:`dse.atomic.write_atomic`: readers only ever see the old or the
    new complete file, and a temporary file left by a killed process is dot-named, which dataset
    discovery skips, so it never breaks ``pandas.read_parquet`` on the folder. Every page carries a CRC
    (``write_page_checksum``), which ``read_trials`` / ``read_layers`` verify: without it about half of
    single flipped bytes read back as other numbers, silently."""
    atomic.write_atomic(path, lambda handle: pq.write_table(table, handle, write_page_checksum=True))


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def results_folder(path: str | Path) -> Path:
    """A results folder (``results/<study>``), checked to hold a trials table."""
    path = Path(path)
    try:
        found = (path / TRIALS_FILE).is_file()
    except OSError as exc:  # a name too long, a path through a file, ...
        raise ValueError(f"{path}: not a results folder ({exc.strerror})") from None
    if not found:
        if (path / JOURNAL_FILE).is_file() and (path / STUDY_COPY).is_file():  # a results folder lacking its table
            raise ValueError(f"{path / TRIALS_FILE}: missing; {_rebuild_hint(path)}")
        raise ValueError(f"{path}: no {TRIALS_FILE} here; give a results folder such as results/quickstart "
                         "(written by `dse run`)")
    return path


def _rebuild_hint(folder: Path) -> str:
    results = "" if folder.parent == Path("results") else f" --results {folder.parent}"
    return (f"`dse run {folder / STUDY_COPY}{results}` rebuilds the tables from the study's journal (every "
            "completed trial is there; the run only resumes the study if it has trials left)")


class DamagedTableError(ValueError):
    """A table of a results folder that cannot be read; the message says how to rebuild it."""


def _read(path: Path, read):
    """``read(path)``, a damaged or unreadable table reported as one line that says how to rebuild it."""
    try:
        return read(path)
    except (OSError, pa.ArrowException, ValueError, EOFError) as exc:  # truncated, flipped bytes, a folder, ...
        why = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:200] or type(exc).__name__
        folder = path.parent.parent if path.parent.name == "_layers" else path.parent
        raise DamagedTableError(f"{path}: not a readable Parquet table ({why}); {_rebuild_hint(folder)}") from None


def rows_not_in_storage(out: str | Path, completed: dict[str, set[int]]) -> dict[str, list[int]]:
    """Trial numbers, by scenario, of rows of ``out``'s trials table that the storage does not hold as
    completed (``completed``: scenario -> trial numbers; other scenarios are not compared): the next export
    would drop them, so a run must not start. An unreadable table has no rows here (it is rebuilt)."""
    try:
        frame = pq.read_table(Path(out) / TRIALS_FILE, columns=["scenario", "trial_number"]).to_pandas()
    except (OSError, pa.ArrowException, ValueError, KeyError):
        return {}
    missing: dict[str, list[int]] = {}
    for scenario, number in zip(frame["scenario"], frame["trial_number"]):
        if scenario in completed and int(number) not in completed[scenario]:
            missing.setdefault(scenario, []).append(int(number))
    return missing


def _read_verified(path: Path) -> pd.DataFrame:
    return pq.read_table(path, page_checksum_verification=True).to_pandas()


def read_trials(path: str | Path) -> pd.DataFrame:
    return _read(results_folder(path) / TRIALS_FILE, _read_verified)


def read_layers(path: str | Path) -> pd.DataFrame:
    return _read(results_folder(path) / LAYERS_FILE, _read_verified)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The study facts stored with the trials table: objectives, constraints, scenarios, searched."""
    schema = _read(results_folder(path) / TRIALS_FILE, pq.read_schema)
    try:
        metadata = json.loads((schema.metadata or {}).get(METADATA_KEY, b"{}"))
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise DamagedTableError(f"{results_folder(path) / TRIALS_FILE}: its study facts (Parquet metadata "
                                f"{METADATA_KEY.decode()!r}) are damaged; {_rebuild_hint(Path(path))}")
    return metadata


# --------------------------------------------------------------------------------------------------
# Pareto fronts and hypervolume
# --------------------------------------------------------------------------------------------------

def _as_minimised(values: np.ndarray, directions: list[str]) -> np.ndarray:
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return np.asarray(values, dtype=float).reshape(len(values), len(directions)) * signs


def pareto_mask(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """True for rows of ``values`` (points x objectives) that no other row dominates."""
    points = _as_minimised(values, directions)
    mask = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        dominated_by = np.all(points <= p, axis=1) & np.any(points < p, axis=1)
        mask[i] = not dominated_by.any()
    return mask


def _hypervolume_box(spec, anchor: dict[str, Any] | None, out: Path) -> dict[str, Any] | None:
    """The box every hypervolume of this study is measured in, fixed once (module dse.hypervolume).

    The study file's ``[hypervolume]`` wins; otherwise the box stored by an earlier export of this folder
    is kept; otherwise the reference is fixed from ``anchor``, the first scenario's lowest-numbered
    completed trial (the sampler's first design for the seed, so the box does not depend on when an
    export happens to run); None until that trial has finished.
    """
    metrics = [o.metric for o in spec.objectives]
    ideal = list(spec.hypervolume_ideal or default_ideal(spec.directions))
    if spec.hypervolume_reference is not None:
        return {"metrics": metrics, "ideal": ideal, "reference": list(spec.hypervolume_reference),
                "source": "study file"}
    stored = _stored_box(out)
    if stored and stored.get("metrics") == metrics and stored.get("ideal") == ideal:
        return stored
    if anchor is None:
        return None
    values = np.array([[anchor[m] for m in metrics]], dtype=float)
    if not np.all(np.isfinite(values)):
        return None
    return {"metrics": metrics, "ideal": ideal, "reference": default_reference(values, spec.directions, ideal),
            "source": f"trial {anchor['trial_number']}"}


def _stored_box(out: Path) -> dict[str, Any] | None:
    try:
        return read_metadata(out).get("hypervolume")
    except (OSError, ValueError, pa.ArrowException):  # no table yet, or one `dse run` is about to rebuild
        return None


def study_hypervolume(values: np.ndarray, metadata: dict[str, Any]) -> float | None:
    """Hypervolume in [0, 1] of ``values`` (points x objectives, the study's objective order) in the
    study's fixed box; None for a table written before boxes were stored, or before any feasible design."""
    box = metadata.get("hypervolume")
    if not box:
        return None
    directions = [d for _, d in metadata["objectives"]]
    return hypervolume(values, directions, box["ideal"], box["reference"])


