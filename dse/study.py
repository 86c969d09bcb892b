"""Studies: a TOML file becomes a :class:`StudySpec`, and :func:`run_study` searches it with Optuna.

The pieces are kept apart the way Optuna keeps them apart:

- *what* to search: :class:`StudySpec`, parsed and validated from a study file by :func:`load_study`
  (fixed hardware, fault scenarios, the search space, objectives, constraints, trial budget);
- *how* to search: :func:`make_sampler` (NSGA-II by default; TPE, GP, random, grid);
- *where* trials live: :func:`open_storage` (an Optuna journal file under ``results/<study>/`` by
  default, or any Optuna RDB URL such as ``postgresql://...`` shared by several machines);
- *what one trial computes*: an objective, by default :func:`dse.objective.evaluate_design`.

:func:`run_study` asks Optuna for parameters, builds the frozen configs, calls the objective, records
every number as an Optuna user attribute, and has :mod:`dse.results` rewrite the Parquet tables from
the storage (the source of truth). A study file's schema is documented in ``docs/studies.md``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import fcntl
import hashlib
import importlib.util
import itertools
import json
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
import tomllib
import types
import typing
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dse import __version__
from dse.config import (PER_LAYER_FIELDS, AnalogEffects, field_type, FaultScenario, HardwareConfig, Protection, layer_key,
                        split_layer_key)
from dse.objective import HEADLINE_METRICS, METRICS, TrialResult, evaluate_design, split_params, workload_metrics
from dse.workloads.workload import WorkloadInfo

# --------------------------------------------------------------------------------------------------
# The study file
# --------------------------------------------------------------------------------------------------

SAMPLERS = ("nsga2", "tpe", "gp", "random", "grid")
SAMPLER_OPTIONS: dict[str, dict[str, type]] = {
    "nsga2": {"population_size": int, "mutation_prob": float, "crossover_prob": float},
    "tpe": {"n_startup_trials": int, "multivariate": bool},
    "gp": {"n_startup_trials": int},
    "random": {},
    "grid": {},
}
DIRECTIONS = ("maximize", "minimize")
CONSTRAINT_OPS = (">=", "<=")
DEFAULT_OBJECTIVES = (("accuracy_mean", "maximize"), ("energy_pj", "minimize"), ("area_mm2", "minimize"))

SECTIONS = ("study", "sampler", "hardware", "protection", "faults", "search", "objectives", "constraints")
STUDY_KEYS = ("name", "workload", "data", "trials", "timeout_s", "description")
MODEL_SUFFIXES = (".npz", ".safetensors")  # a study's own model file (dse.workloads.model_file)
MAX_CHOICES = 1000          # values in one searched list
MAX_GRID_POINTS = 100_000   # points of a grid search (Optuna's grid sampler lists them all)
MAX_SEED = 2**32 - 1        # Optuna's samplers take 32-bit seeds
FAULT_KEYS = tuple(f.name for f in dataclasses.fields(FaultScenario))
ANALOG_KEYS = tuple(f.name for f in dataclasses.fields(AnalogEffects))
SCENARIO_KEYS = ("name",) + FAULT_KEYS + ANALOG_KEYS
# Every searchable parameter and the config class it belongs to. The per-layer fields
# (row_prune_layers, col_prune_layers) are tables of layers: each layer is its own parameter
# ``row_prune_layers.<layer>``.
SEARCHABLE: dict[str, type] = {
    **{f.name: HardwareConfig for f in dataclasses.fields(HardwareConfig)},
    **{f.name: Protection for f in dataclasses.fields(Protection)},
}


def param_class(name: str) -> type:
    """The config class a (possibly per-layer) parameter name belongs to."""
    layered = split_layer_key(name)
    return SEARCHABLE[layered[0] if layered else name]
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class StudyFileError(ValueError):
    """A study file problem, reported as ``<file>: <key>: <problem>`` before any trial runs."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        problem = " ".join(str(problem).split())  # always one line
        if len(problem) > 2000:
            problem = problem[:1997] + "..."
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


def make_config(cls: type, fixed: dict[str, Any], params: dict[str, Any]):
    """``cls(**values)`` from a study's fixed values and a design's parameters; per-layer parameters
    (``row_prune_layers.fc1``) are merged into the fixed per-layer table of their field."""
    values = {k: dict(v) if k in PER_LAYER_FIELDS and isinstance(v, dict) else v for k, v in fixed.items()}
    hw, protection = split_params(params)
    for name, value in (hw if cls is HardwareConfig else protection).items():
        if name in PER_LAYER_FIELDS and isinstance(values.get(name), dict):
            values[name] = {**values[name], **value}
        else:
            values[name] = value
    return cls(**values)


def _search_key(name: str) -> str:
    """``search.<name>`` as TOML writes it, the layer of a per-layer parameter quoted when it must be."""
    layered = split_layer_key(name)
    return f"search.{layered[0]}.{_k(layered[1])}" if layered else f"search.{_k(name)}"


@dataclass(frozen=True)
class Choice:
    """A categorical parameter: one of ``values`` (a TOML list)."""

    name: str
    values: tuple[Any, ...]

    def suggest(self, trial) -> Any:
        return trial.suggest_categorical(self.name, self.values)

    def distribution(self):
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.values)

    def grid(self) -> list[Any]:
        return list(self.values)

    def grid_size(self) -> int:
        return len(self.values)

    def candidates(self) -> tuple[Any, ...]:
        return self.values


@dataclass(frozen=True)
class Range:
    """A numeric parameter in ``[low, high]``: integer when the field is an int, optional step / log."""

    name: str
    low: int | float
    high: int | float
    step: int | float | None = None
    log: bool = False
    integer: bool = False

    def suggest(self, trial) -> int | float:
        if self.integer:
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def distribution(self):
        from optuna.distributions import FloatDistribution, IntDistribution

        if self.integer:
            return IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def grid(self) -> list[int | float]:
        if self.integer:
            return list(range(self.low, self.high + 1, self.step or 1))
        return [round(self.low + i * self.step, 12) for i in range(self.grid_size())]

    def grid_size(self) -> int:
        if self.integer:
            return len(range(self.low, self.high + 1, self.step or 1))
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1  # as Optuna: never above high

    def candidates(self) -> tuple[Any, ...]:
        return (self.low, self.high)


Param = Choice | Range


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # "maximize" or "minimize"


@dataclass(frozen=True)
class Constraint:
    """``metric >= bound`` or ``metric <= bound``, given to Optuna as a value that is <= 0 when met."""

    metric: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        return self.bound - value if self.op == ">=" else value - self.bound

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Scenario:
    """One fault scenario; each scenario is its own Optuna study (``<study>`` or ``<study>:<name>``).

    ``analog`` holds the scenario's analog non-idealities (all off unless its table sets them).
    """

    name: str
    faults: FaultScenario
    analog: AnalogEffects = AnalogEffects()


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "nsga2"
    seed: int = 0
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class StudySpec:
    """A validated study file. Construct with :func:`load_study` or :func:`parse_study`."""

    name: str
    workload: str                     # a built-in name, or a model file's path as the study file gives it
    hardware: dict[str, Any]          # fixed HardwareConfig values (the rest are defaults or searched)
    protection: dict[str, Any]        # fixed Protection values
    scenarios: tuple[Scenario, ...]
    search: tuple[Param, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    sampler: SamplerSpec = SamplerSpec()
    trials: int = 20
    timeout_s: float | None = None
    description: str = ""
    source: str = "<study>"           # the file it came from, for messages
    text: str = ""                    # the file's text, copied to results/<study>/_study.toml
    model_path: str | None = None     # a model-file workload: the model and its data, absolute paths
    data_path: str | None = None
    model_digest: str = ""            # sha256 of the model and data files (a changed model is a new study)
    info: WorkloadInfo | None = None  # the workload's layer and metric names (checked against the file)

    def layer_columns(self) -> list[str]:
        """The per-layer columns of the trials table (``row_prune_layers.<layer>``, then
        ``col_prune_layers.<layer>``), fixed or searched, in network order."""
        columns = []
        searched = {p.name for p in self.search}
        for name in PER_LAYER_FIELDS:
            given = set(self.protection.get(name, {})) | {s[1] for s in map(split_layer_key, searched)
                                                          if s and s[0] == name}
            order = list(self.info.layers) if self.info else []
            columns += [layer_key(name, layer) for layer in order + sorted(given - set(order)) if layer in given]
        return columns

    @property
    def workload_ref(self) -> str:
        """What the objective is given as ``workload``: the built-in name or the model file's path."""
        return self.model_path or self.workload

    def optuna_name(self, scenario: Scenario) -> str:
        return self.name if len(self.scenarios) == 1 else f"{self.name}:{scenario.name}"

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def trial_budget(self) -> int:
        """Finished trials each scenario aims for; a grid never needs more than its points."""
        if self.sampler.name == "grid":
            return min(self.trials, math.prod(p.grid_size() for p in self.search))
        return self.trials

    def owner(self) -> dict[str, Any]:
        """What makes trials of two runs comparable: a results folder and its Optuna studies belong to
        one workload, fixed design, set of scenarios, objectives and constraints. The budget, timeout,
        description, sampler and (compatible) search ranges may change between runs."""
        return _plain({
            "workload": self.workload if self.model_path is None else
                        f"model file {Path(self.workload).name} (sha256 {self.model_digest[:16]})",
            "hardware": dict(sorted(self.hardware.items())),
            "protection": dict(sorted(self.protection.items())),
            "faults": {s.name: {**dataclasses.asdict(s.faults), **dataclasses.asdict(s.analog)}
                       for s in self.scenarios},
            "objectives": [f"{o.direction} {o.metric}" for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
        })

    def with_overrides(self, trials: int | None = None, timeout_s: float | None = None) -> "StudySpec":
        """The same study with command-line overrides (validated like the file's own values)."""
        spec = self
        if trials is not None:
            _check_positive_int(trials, self.source, "trials (--trials)")
            spec = dataclasses.replace(spec, trials=trials)
        if timeout_s is not None:
            _check_positive_number(timeout_s, self.source, "timeout_s (--timeout-s)")
            spec = dataclasses.replace(spec, timeout_s=float(timeout_s))
        return spec


MAX_STUDY_BYTES = 1 << 20  # a study file is a page of TOML; anything bigger is not one


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study file; raises :class:`StudyFileError` naming the file and key.

    Paths in the file (``study.workload`` and ``study.data`` of a model-file workload) are relative
    to the file's folder.
    """
    path = Path(path)
    source = str(path)
    try:
        if path.stat().st_size > MAX_STUDY_BYTES:
            raise StudyFileError(source, "(file)", f"{path.stat().st_size} bytes is not a study file "
                                 f"(at most {MAX_STUDY_BYTES})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyFileError(source, "(file)", f"cannot read the study file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise StudyFileError(source, "(file)", f"not UTF-8 text (byte {exc.start}); a study file is "
                             "TOML") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyFileError(source, "(syntax)", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise StudyFileError(source, "(syntax)", "nested too deeply to be a study file") from None
    return parse_study(data, source=source, text=text, default_name=path.stem, base_dir=path.parent)


def parse_study(data: dict[str, Any], *, source: str = "<study>", text: str = "",
                default_name: str = "study", base_dir: str | Path | None = None) -> StudySpec:
    """Validate the parsed TOML of a study file (see ``docs/studies.md`` for the schema).

    ``base_dir`` is where relative model and data paths start (default: the working directory).
    """
    _check_keys(data, SECTIONS, source, "")
    study = _table(data, "study", source)
    _check_keys(study, STUDY_KEYS, source, "study")

    name = study.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or len(name) > 200:
        raise StudyFileError(source, "study.name", f"{_short(name)} is not usable as a folder name; use "
                             "up to 200 letters, digits, '_', '-' and '.', starting with a letter or digit")
    workload = study.get("workload")
    model_path, data_path, model_digest, info = _parse_workload(study, source, base_dir)
    trials = study.get("trials", 20)
    _check_positive_int(trials, source, "study.trials")
    timeout_s = study.get("timeout_s")
    if timeout_s is not None:
        _check_positive_number(timeout_s, source, "study.timeout_s")
    description = study.get("description", "")
    if not isinstance(description, str):
        raise StudyFileError(source, "study.description", f"must be text, got {_short(description)}")

    hardware = _table(data, "hardware", source)
    protection = _table(data, "protection", source)
    for section, cls in (("hardware", HardwareConfig), ("protection", Protection)):
        allowed = [f.name for f in dataclasses.fields(cls)]
        _check_keys(data.get(section, {}), allowed, source, section)
    _check_fixed_layers(protection, source)
    _check_layer_names(protection, _table(data, "search", source), info, workload, source)
    search = _parse_search(data, hardware, protection, source)
    for section, cls, fixed in (("hardware", HardwareConfig, hardware), ("protection", Protection, protection)):
        _validate_candidates(cls, section, fixed, [p for p in search if param_class(p.name) is cls], source)

    sampler = _parse_sampler(data, source)
    if sampler.name == "grid":
        for p in search:
            if isinstance(p, Range) and not p.integer and p.step is None:
                raise StudyFileError(source, _search_key(p.name), "the grid sampler needs a list of "
                                     "values or a range with a step")
    if not search:
        raise StudyFileError(source, "search", "the search space is empty; add at least one parameter, "
                             f"allowed: {', '.join(SEARCHABLE)}")
    if sampler.name == "grid":
        points = math.prod(p.grid_size() for p in search)
        if points > MAX_GRID_POINTS:
            raise StudyFileError(source, "search", f"the grid has {points} points, more than "
                                 f"{MAX_GRID_POINTS}; use fewer values or larger steps, or another sampler")

    metrics = _allowed_metrics(info, workload)
    return StudySpec(
        name=name, workload=workload, hardware=dict(hardware), protection=dict(protection),
        scenarios=_parse_scenarios(data, source), search=tuple(search),
        objectives=_parse_objectives(data, source, metrics), constraints=_parse_constraints(data, source, metrics),
        sampler=sampler, trials=trials, timeout_s=None if timeout_s is None else float(timeout_s),
        description=description, source=source, text=text,
        model_path=model_path, data_path=data_path, model_digest=model_digest, info=info,
    )


def _allowed_metrics(info: WorkloadInfo, workload: str) -> tuple[str, tuple[str, ...]]:
    """(how to name the list in a message, every metric an objective or constraint may name): the
    numbers every trial reports and the workload's own (``<name>_mean``, ``ideal_<name>``)."""
    own = workload_metrics(info.metrics)
    label = Path(workload).name if str(workload).endswith(MODEL_SUFFIXES) else workload
    where = (f"{label}'s own {', '.join(own)}; and {', '.join(METRICS)}" if own else
             f"{', '.join(METRICS)} ({label} reports no metrics of its own)")
    return where, METRICS + own


def _check_fixed_layers(protection: dict[str, Any], source: str) -> None:
    """A per-layer field in [protection] is a table of layer names and fractions."""
    for name, global_name in PER_LAYER_FIELDS.items():
        value = protection.get(name)
        if value is not None and (not isinstance(value, dict) or not value):
            raise StudyFileError(source, f"protection.{name}", f"must be a table of layer names and fractions, "
                                 f"e.g. {name}.fc1 = 0.3 (one fraction for every layer: {global_name}), "
                                 f"got {_short(value)}")


def _check_layer_names(protection: dict[str, Any], search: dict[str, Any], info: WorkloadInfo, workload: str,
                       source: str) -> None:
    """Every layer a per-layer table names, in [protection] or [search], must be one of the workload's
    (and for a column fraction one whose columns can be pruned)."""
    def tables(section: str, table: dict[str, Any]):
        for name in PER_LAYER_FIELDS:
            value = table.get(name)
            # a searched table that is not {layer: list or range} is reported by _parse_per_layer
            if isinstance(value, dict) and (section == "protection" or
                                            all(isinstance(v, (list, dict)) for v in value.values())):
                yield name, value

    given = [(f"{section}.{name}.{_k(layer)}", name, layer)
             for section, table in (("protection", protection), ("search", search))
             for name, layers in tables(section, table) for layer in layers]
    label = Path(workload).name if str(workload).endswith(MODEL_SUFFIXES) else workload
    for key, name, layer in given:
        allowed = info.layers if name == "row_prune_layers" else info.col_layers
        if layer in allowed:
            continue
        if layer in info.layers:
            problem = (f"the columns of {layer} are never pruned in {label} (a classifier's last layer keeps "
                       "its classes; a transformer's key columns follow its query columns)")
        else:
            problem = f"{_short(layer)} is not a layer of {label}"
        raise StudyFileError(source, key, f"{problem}; allowed layers: {', '.join(allowed)}")


def known_workloads() -> tuple[str, ...]:
    from dse.workloads import list_workloads

    return tuple(list_workloads())


def _parse_workload(study: dict, source: str, base_dir) -> tuple[str | None, str | None, str, WorkloadInfo]:
    """(model path, data path, digest, info) of a model-file workload, (None, None, "", info) for a
    built-in; ``info`` (its layer and metric names) is declared by a built-in, read from a model file.

    A model file is loaded here, with its data, so that every problem in it is reported now, naming
    the key (``study.workload`` or ``study.data``) and the file, before any results are written.
    """
    workload, data = study.get("workload"), study.get("data")
    known = known_workloads()
    allowed = f"allowed: {', '.join(known)}, or a model file ({' or '.join(MODEL_SUFFIXES)}) with data"
    if workload in known:
        if data is not None:
            raise StudyFileError(source, "study.data", f"only for a model file; {_short(workload)} is a built-in "
                                 "workload with its own data")
        from dse.workloads.builtin import workload_info

        return None, None, "", workload_info(workload)
    if workload is None:
        raise StudyFileError(source, "study.workload", f"missing; {allowed}")
    if not isinstance(workload, str) or not workload.endswith(MODEL_SUFFIXES):
        raise StudyFileError(source, "study.workload", f"{_short(workload)} is not a built-in workload; {allowed}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    model = _existing_file(base, workload, source, "study.workload", "model file")
    if data is None:
        raise StudyFileError(source, "study.data", f"missing; the model file {workload} needs data = "
                             '"path/data.npz" (arrays x and y, relative to the study file)')
    if not isinstance(data, str) or not data.endswith(".npz"):
        raise StudyFileError(source, "study.data", f"must be the path of an .npz file holding arrays x "
                             f"and y, got {_short(data)}")
    data_file = _existing_file(base, data, source, "study.data", "data file")
    try:  # the loader would let some damage through as a raw error
        with np.load(data_file, allow_pickle=False) as arrays:
            missing = [key for key in ("x", "y") if key not in getattr(arrays, "files", ())]
            if missing:
                raise ValueError(f"lacks array(s) {', '.join(missing)}; it must hold x and y")
            for key in ("x", "y"):
                arrays[key]  # reads (and checks) the array
    except Exception as exc:  # noqa: BLE001 - a user's file: report it
        problem = str(exc) if isinstance(exc, ValueError) and str(exc).startswith("lacks") else \
            f"not a readable .npz file holding arrays x and y ({type(exc).__name__}: {_clip(str(exc), 200)})"
        raise StudyFileError(source, "study.data", f"{data}: {problem}") from None
    from dse.workloads import open_workload

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. overflow in a huge weight: reported below if it matters
            info = open_workload(str(model), str(data_file)).info()
    except Exception as exc:  # noqa: BLE001 - every problem in a user's file is reported, not raised
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, (ValueError, OSError)):
            message = f"{type(exc).__name__}: {message}"
        # The loader names the data's arrays x and y, and everything else after the model file.
        is_data = re.match(r"(data |x |y |x:|y:|x and y)", message) is not None
        key, path = ("study.data", data) if is_data else ("study.workload", workload)
        if not message.startswith((Path(path).name, str(path), "data ")):
            message = f"{path}: {message}"
        raise StudyFileError(source, key, message[:2000]) from None
    digest = hashlib.sha256()
    for path in (model, data_file):
        digest.update(path.read_bytes())
    return str(model), str(data_file), digest.hexdigest(), info


def _existing_file(base: Path, value: str, source: str, key: str, what: str) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        if path.is_file():
            return path.resolve()
    except OSError:
        pass
    raise StudyFileError(source, key, f"{what} {value} not found (looked for {path})")


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise StudyFileError(source, key, f"must be a table ([{key}]), got {type(value).__name__}")
    return value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _k(name: Any) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (so a message stays one line)."""
    name = str(name)
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def _check_keys(table: dict[str, Any], allowed, source: str, section: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{section}.{_k(key)}" if section else _k(key)
            raise StudyFileError(source, where, f"unknown key; allowed: {', '.join(allowed)}")


def _check_positive_int(value: Any, source: str, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyFileError(source, key, f"must be a positive integer, got {_short(value)}")


def _short(value: Any, limit: int = 80) -> str:
    """repr of a value for a one-line message, cut short."""
    return _clip(repr(value), limit)


def _clip(text: str, limit: int = 300) -> str:
    """A message on one line, cut short."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_positive_number(value: Any, source: str, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise StudyFileError(source, key, f"must be a positive number of seconds, got {_short(value)}")


def _parse_search(data, hardware, protection, source) -> list[Param]:
    params: list[Param] = []
    for name, value in _table(data, "search", source).items():
        key = f"search.{_k(name)}"
        if name not in SEARCHABLE:
            raise StudyFileError(source, key, f"not a searchable parameter; allowed: {', '.join(SEARCHABLE)}")
        if name in PER_LAYER_FIELDS:
            params += _parse_per_layer(name, value, protection, source)
            continue
        if name in hardware or name in protection:
            section = "hardware" if name in hardware else "protection"
            raise StudyFileError(source, key, f"also fixed in [{section}]; keep one of the two")
        params.append(_parse_param(name, value, source))
    return params


def _parse_param(name: str, value: Any, source: str) -> Param:
    kind = field_type(param_class(name), name)
    if isinstance(value, list):
        return _parse_choice(name, value, kind, source)
    if isinstance(value, dict):
        return _parse_range(name, value, kind, source)
    raise StudyFileError(source, _search_key(name), "must be a list of values ([1, 2, 4]) or a range "
                         f"({{ low = 0.0, high = 0.5 }}, optional step and log), got {_short(value)}")


def _parse_per_layer(name: str, table: Any, protection: dict[str, Any], source: str) -> list[Param]:
    """``[search.row_prune_layers]`` (or ``row_prune_layers.fc1 = ...`` in [search]): one parameter per
    layer, ``row_prune_layers.<layer>``, each a list or a range like any float parameter."""
    usage = (f"a table of layers, each a list or a range: {name}.fc1 = {{ low = 0.0, high = 0.5, step = 0.05 }} "
             f"(one fraction for every layer: {PER_LAYER_FIELDS[name]})")
    if not isinstance(table, dict) or not table or not all(isinstance(v, (list, dict)) for v in table.values()):
        raise StudyFileError(source, f"search.{name}", f"must be {usage}, got {_short(table)}")
    params = []
    for layer, value in table.items():
        param = layer_key(name, layer)
        if layer in protection.get(name, {}):
            raise StudyFileError(source, _search_key(param), "also fixed in [protection]; keep one of the two")
        params.append(_parse_param(param, value, source))
    return params


def _typed(value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` (int, float, str or bool), or raise TypeError."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type(value) is kind:
        return value
    raise TypeError(f"expected {kind.__name__}, got {_short(value)}")


def _parse_choice(name: str, values: list, kind: type, source: str) -> Choice:
    key = _search_key(name)
    if not values:
        raise StudyFileError(source, key, "the list of values is empty")
    if len(values) > MAX_CHOICES:
        raise StudyFileError(source, key, f"{len(values)} values; at most {MAX_CHOICES} (use a range)")
    try:
        typed = tuple(_typed(v, kind) for v in values)
    except TypeError as exc:
        raise StudyFileError(source, key, f"{exc} ({name} takes {kind.__name__} values)") from None
    if len(set(typed)) != len(typed):
        raise StudyFileError(source, key, f"the list repeats a value: {_short(list(values))}")
    return Choice(name, typed)


def _parse_range(name: str, spec: dict, kind: type, source: str) -> Range:
    key = _search_key(name)
    _check_keys(spec, ("low", "high", "step", "log"), source, key)
    if kind not in (int, float):
        raise StudyFileError(source, key, f"{name} takes {kind.__name__} values: give a list, not a range")
    if "low" not in spec or "high" not in spec:
        raise StudyFileError(source, key, "a range needs both low and high")
    integer = kind is int
    try:
        low, high = _typed(spec["low"], kind), _typed(spec["high"], kind)
        step = None if spec.get("step") is None else _typed(spec["step"], kind)
    except TypeError as exc:
        raise StudyFileError(source, key, f"{_clip(str(exc), 120)} ({name} is "
                             f"{'an integer' if integer else 'a number'})") from None
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise StudyFileError(source, f"{key}.log", f"must be true or false, got {_short(log)}")
    for bound, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and not math.isfinite(value):
            raise StudyFileError(source, f"{key}.{bound}", f"must be a finite number, got {value}")
    if low > high:
        raise StudyFileError(source, key, f"low ({low}) must not exceed high ({high})")
    if step is not None and step <= 0:
        raise StudyFileError(source, f"{key}.step", f"must be positive, got {step}")
    if log and low <= 0:
        raise StudyFileError(source, f"{key}.log", f"a log range needs low > 0, got {low}")
    if log and step not in (None, 1):
        raise StudyFileError(source, f"{key}.log", "a log range cannot have a step")
    return Range(name, low, high, step, log, integer)


def _validate_candidates(cls, section: str, fixed: dict, params: list[Param], source: str) -> None:
    """Each fixed value, and each searched value in some combination, must make a valid config."""
    def valid(assigned: dict) -> Exception | None:
        try:
            make_config(cls, fixed, assigned)
        except (ValueError, TypeError) as exc:
            return exc
        return None

    def combos(candidates: list[Param]):
        return itertools.islice(itertools.product(*(p.candidates() for p in candidates)), 512)

    error = valid({})
    if error is not None and all(valid({p.name: v for p, v in zip(params, combo)}) is not None
                                 for combo in combos(params)):
        # no searched value can make the fixed values valid: name the fixed key at fault
        field = re.match(r"\w*", str(error)).group(0)
        key = f"{section}.{field}" if field in fixed else section
        layer = re.match(r"\w+: layer '([^']*)'", str(error))
        if field in PER_LAYER_FIELDS and layer and layer.group(1) in fixed.get(field, {}):
            key = f"{key}.{_k(layer.group(1))}"
        raise StudyFileError(source, key, _clip(str(error), 300))
    for param in params:
        others = [p for p in params if p is not param]
        for value in param.candidates():
            error = None
            for combo in combos(others):
                error = valid({param.name: value, **{o.name: v for o, v in zip(others, combo)}})
                if error is None:
                    break
            if error is not None:
                raise StudyFileError(source, _search_key(param.name),
                                     f"{_short(value)} can never be used: {_clip(str(error), 300)}")
    if cls is HardwareConfig:  # a technology preset name or .toml file must load
        techs = [(f"{section}.tech", fixed["tech"])] if "tech" in fixed else []
        techs += [("search.tech", v) for p in params if p.name == "tech" for v in p.grid()]
        for key, tech in techs:
            _check_tech(tech, source, key)


def _check_tech(tech: str, source: str, key: str) -> None:
    from dse.cost.tech import available_presets, load_tech

    try:
        load_tech(tech)
    except Exception as exc:  # noqa: BLE001 - a user's file: report, never raise from deep inside
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, (FileNotFoundError, KeyError)) or "No such file" in message:
            message = f"{_short(tech)} is neither a preset ({', '.join(available_presets())}) nor a readable .toml file"
        elif not isinstance(exc, ValueError):
            message = f"{type(exc).__name__}: {message}"
        raise StudyFileError(source, key, _clip(message, 400)) from None


def _parse_sampler(data, source) -> SamplerSpec:
    table = _table(data, "sampler", source)
    name = table.get("name", "nsga2")
    if name not in SAMPLERS:
        raise StudyFileError(source, "sampler.name", f"{_short(name)} is not a sampler; allowed: {', '.join(SAMPLERS)}")
    if name == "gp" and importlib.util.find_spec("torch") is None:
        raise StudyFileError(source, "sampler.name", "the gp sampler needs PyTorch (pip install torch); "
                             f"allowed without it: {', '.join(s for s in SAMPLERS if s != 'gp')}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise StudyFileError(source, "sampler.seed", f"must be an integer in 0..{MAX_SEED}, got {_short(seed)}")
    allowed = SAMPLER_OPTIONS[name]
    _check_keys(table, ("name", "seed", *allowed), source, "sampler")
    options = []
    for key, value in table.items():
        if key in allowed:
            try:
                value = _typed(value, allowed[key])
            except TypeError as exc:
                raise StudyFileError(source, f"sampler.{key}", _clip(str(exc), 120)) from None
            problem = _sampler_option_problem(key, value)
            if problem:
                raise StudyFileError(source, f"sampler.{key}", f"{problem}, got {_short(value)}")
            options.append((key, value))
    return SamplerSpec(name, seed, tuple(options))


def _sampler_option_problem(key: str, value: Any) -> str:
    if key == "population_size" and not 2 <= value <= 100_000:
        return "must be an integer in 2..100000"
    if key in ("mutation_prob", "crossover_prob") and not 0.0 <= value <= 1.0:
        return "must be a probability in [0, 1]"
    if key == "n_startup_trials" and not 0 <= value <= 1_000_000:
        return "must be an integer in 0..1000000"
    return ""


def _parse_scenarios(data, source) -> tuple[Scenario, ...]:
    raw = data.get("faults", {})
    tables = raw if isinstance(raw, list) else [raw]
    if not tables:
        raise StudyFileError(source, "faults", "give one [faults] table or several [[faults]] tables")
    scenarios = []
    for i, table in enumerate(tables):
        where = "faults" if len(tables) == 1 else f"faults[{i}]"
        if not isinstance(table, dict):
            raise StudyFileError(source, where, f"must be a table, got {_short(table)}")
        _check_keys(table, SCENARIO_KEYS, source, where)
        name = table.get("name", "default" if len(tables) == 1 else None)
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise StudyFileError(source, f"{where}.name", "each of several scenarios needs a name "
                                 f"(letters, digits, '_', '-', '.'), got {_short(name)}")
        try:
            faults = FaultScenario(**{k: v for k, v in table.items() if k in FAULT_KEYS})
            analog = AnalogEffects(**{k: v for k, v in table.items() if k in ANALOG_KEYS})
            scenarios.append(Scenario(name, faults, analog))
        except (ValueError, TypeError) as exc:
            field = re.match(r"\w*", str(exc)).group(0)
            raise StudyFileError(source, f"{where}.{field}" if field in table else where, _clip(str(exc), 300)) from None
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise StudyFileError(source, "faults", f"scenario names must differ, got {names}")
    return tuple(scenarios)


def _parse_objectives(data, source, metrics: tuple[str, tuple[str, ...]] = ("", METRICS)) -> tuple[Objective, ...]:
    table = _table(data, "objectives", source) or dict(DEFAULT_OBJECTIVES)
    objectives = []
    allowed_text, allowed = metrics
    for metric, direction in table.items():
        if metric not in allowed:
            raise StudyFileError(source, f"objectives.{_k(metric)}",
                                 f"not a metric; allowed: {allowed_text or ', '.join(allowed)}")
        if direction not in DIRECTIONS:
            raise StudyFileError(source, f"objectives.{metric}", f"direction {_short(direction)}; allowed: "
                                 f"{', '.join(DIRECTIONS)}")
        objectives.append(Objective(metric, direction))
    return tuple(objectives)


def _parse_constraints(data, source, metrics: tuple[str, tuple[str, ...]] = ("", METRICS)) -> tuple[Constraint, ...]:
    constraints = []
    allowed_text, allowed = metrics
    for metric, text in _table(data, "constraints", source).items():
        key = f"constraints.{_k(metric)}"
        if metric not in allowed:
            raise StudyFileError(source, key, f"not a metric; allowed: {allowed_text or ', '.join(allowed)}")
        match = re.fullmatch(r"\s*(>=|<=)\s*(\S+)\s*", text) if isinstance(text, str) else None
        try:
            bound = float(match.group(2)) if match else math.nan
        except ValueError:
            bound = math.nan
        if not math.isfinite(bound):
            raise StudyFileError(source, key, f"write a bound like \">= 0.9\" or \"<= 1e5\" "
                                 f"(operators: {', '.join(CONSTRAINT_OPS)}), got {_short(text)}")
        constraints.append(Constraint(metric, match.group(1), bound))
    return tuple(constraints)


# --------------------------------------------------------------------------------------------------
# Sampler and storage
# --------------------------------------------------------------------------------------------------

def make_sampler(spec: StudySpec, seed: int):
    """The Optuna sampler a study file asks for, seeded with ``seed``.

    Constraints reach the samplers that use them (NSGA-II, TPE, GP) through ``trial.set_constraint``;
    random and grid sampling ignore them, and the tables still mark each design ``feasible``.
    Random and grid sampling give trial *n* the same parameters whichever worker runs it, so they
    reproduce with any number of workers; NSGA-II, TPE and GP learn from the trials finished so far,
    which with several workers depends on timing.
    """
    import optuna

    options = dict(spec.sampler.options)
    name = spec.sampler.name
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **options)
    samplers = _sampler_classes()
    if name == "random":  # seeded per trial number, not per worker
        return samplers.TrialSeededRandomSampler(spec.sampler.seed)
    # The grid is shuffled by its seed and trial n takes point n: every worker needs the same order.
    return samplers.RetryingGridSampler({p.name: p.grid() for p in spec.search}, seed=spec.sampler.seed)


@functools.lru_cache(maxsize=1)
def _sampler_classes():
    """The two sampler classes below, defined on first use (importing Optuna takes a while)."""
    import zlib

    import optuna
    from optuna.trial import TrialState

    class TrialSeededRandomSampler(optuna.samplers.BaseSampler):
        """Random sampling where trial *n*'s parameters depend only on (seed, n, parameter name)."""

        def __init__(self, seed: int) -> None:
            self._seed = seed

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            entropy = [self._seed, trial.number, zlib.crc32(param_name.encode())]
            seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])
            return optuna.samplers.RandomSampler(seed=seed).sample_independent(
                study, trial, param_name, param_distribution)

    class RetryingGridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler, except that the point of a failed trial (a killed worker, a trial
        beyond the budget) counts as not visited, so a later trial evaluates it."""

        def _get_unvisited_grid_ids(self, study) -> list[int]:
            taken = {t.system_attrs["grid_id"] for t in study._storage.get_all_trials(study._study_id, deepcopy=False)
                     if t.state != TrialState.FAIL and "grid_id" in t.system_attrs
                     and self._same_search_space(t.system_attrs["search_space"])}
            unvisited = sorted(set(range(self._n_min_trials)) - taken)
            # Never empty: the budget check ends the run; an empty list would stop or warn instead.
            return unvisited or list(range(self._n_min_trials))

    return types.SimpleNamespace(TrialSeededRandomSampler=TrialSeededRandomSampler,
                                 RetryingGridSampler=RetryingGridSampler)


JOURNAL_FILE = "_optuna.journal"
WRITERS_LOCK = "_writers.lock"  # every process writing a results folder holds it shared
# RDB storage: a running trial records a heartbeat every 60 s; one silent for 180 s (its worker or
# machine died) is failed by the next worker or run that starts a trial, and replaced.
HEARTBEAT_S: tuple[int, int] = (60, 180)
WRITERS_WAIT_S = 30.0  # how long a run waits for the processes of a killed run to exit


def journal_path(url: str | None, results_dir: Path) -> Path | None:
    """The journal file a storage argument means, or None for an RDB URL."""
    if url and "://" in url:
        return None
    return Path(url) if url else Path(results_dir) / JOURNAL_FILE


def open_storage(url: str | None, results_dir: Path, *, heartbeat: tuple[int, int] | None = None):
    """Optuna storage: a journal file in ``results_dir`` (no server) unless ``url`` names another.

    ``url`` may be an RDB URL (``sqlite:///x.db``, ``postgresql://user@host/db``: several machines
    share one study; ``heartbeat`` = (interval, grace period) in seconds, default ``HEARTBEAT_S``)
    or a path to a journal file.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    journal = journal_path(url, results_dir)
    if journal is not None:
        return JournalStorage(JournalFileBackend(str(journal)))
    interval, grace = heartbeat or HEARTBEAT_S
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna 5, and what we want
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _rdb_storage_class()(_with_driver(url), heartbeat_interval=interval, grace_period=grace)
    except ImportError as exc:
        raise StorageError(f"--storage {redact(url)}: the database driver is missing ({exc.name or exc}); "
                           "for PostgreSQL install the extra: pip install 'reram-dse[postgres]'") from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's connection errors: one line, not a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"--storage {redact(url)}: cannot open the database: {_clip(first, 300)}") from None


@functools.lru_cache(maxsize=1)
def _rdb_storage_class():
    import datetime

    import optuna
    from optuna.trial import TrialState

    class RDBStorage(optuna.storages.RDBStorage):
        """Optuna's RDB storage, except that a running trial whose worker died before recording its
        first heartbeat also becomes stale after the grace period (Optuna 5 skips trials without a
        heartbeat, which would then stay RUNNING, and count towards the budget, for ever)."""

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            stale = super()._get_stale_trial_ids(study_id)
            try:
                from optuna.storages._rdb import models
                from optuna.storages._rdb.storage import _create_scoped_session

                grace = self.grace_period or 2 * self.heartbeat_interval
                cutoff = datetime.datetime.now() - datetime.timedelta(seconds=grace)  # datetime_start is local
                with _create_scoped_session(self.scoped_session) as session:
                    running = (session.query(models.TrialModel)
                               .filter(models.TrialModel.state == TrialState.RUNNING)
                               .filter(models.TrialModel.study_id == study_id).all())
                    stale += [t.trial_id for t in running if not t.heartbeats and t.trial_id not in stale
                              and t.datetime_start is not None and t.datetime_start < cutoff]
            except Exception:  # noqa: BLE001 - Optuna's internals moved: its own rule still holds
                pass
            return stale

    return RDBStorage


def _with_driver(url: str) -> str:
    """``postgresql://...`` with whichever PostgreSQL driver is installed (SQLAlchemy 2.1 assumes
    psycopg 3, 2.0 psycopg2; the ``postgres`` extra installs psycopg 3)."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        return url
    for module in ("psycopg", "psycopg2"):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{module}://{rest}"
    return f"postgresql://{rest}"


def redact(url: str | None) -> str:
    """A storage URL without its password."""
    if not url or "://" not in url:
        return url or ""
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)


def describe_storage(url: str | None, results_dir: Path) -> str:
    return redact(url) if url else str(Path(results_dir) / JOURNAL_FILE)


class StorageError(ValueError):
    """The storage cannot be opened (bad URL, no server, no driver); one line for the user."""


class ResultsFolderError(ValueError):
    """The results folder cannot be used: another study owns it, it is not writable, the disk is full."""


# ---- repairing what a killed process leaves behind ------------------------------------------------

def repair_journal(path: Path) -> list[str]:
    """Undo what a killed writer can leave in an Optuna journal file; call only when no process writes it.

    A write cut short leaves a partial last line (Optuna would glue the next entry onto it and then
    refuse to read the file) and Optuna's lock file (every later writer would wait 30 s for it).
    Returns what was done, for the user.
    """
    notes = []
    lock = Path(f"{path}.lock")  # optuna's JournalFileSymlinkLock
    if os.path.lexists(lock):
        os.unlink(lock)
        notes.append(f"removed {lock.name}, left by a killed process")
    for leftover in path.parent.glob(f"{glob_escape(path.name)}.lock*.rename"):
        leftover.unlink(missing_ok=True)
    if not path.is_file():
        return notes
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        end = size
        while end > 0:  # find the last newline, reading backwards
            start = max(0, end - 65536)
            f.seek(start)
            chunk = f.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            f.seek(end)
            tail = f.read()
            if _journal_entries(tail) == 1 and tail.rstrip().endswith(b"}"):  # complete but for the newline
                f.seek(size)
                f.write(b"\n")
                notes.append(f"completed the last entry of {path.name}")
            else:
                f.truncate(end)
                notes.append(f"dropped an unfinished entry ({size - end} bytes) at the end of {path.name}")
            f.flush()
            os.fsync(f.fileno())
    return notes


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _journal_entries(line: bytes) -> int:
    try:
        return 1 if isinstance(json.loads(line), dict) else 0
    except ValueError:
        return 0


def salvage_journal(path: Path) -> str:
    """Rewrite a journal whose middle holds a damaged line (a write cut short by a full disk, then
    other writes appended to it): keep every complete entry, drop the cut ones. The original is kept
    beside it as ``<name>.damaged-<time>``. Call only when no process writes the journal."""
    decoder = json.JSONDecoder()
    kept, dropped = [], 0
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            json.loads(line)
            kept.append(line)
            continue
        except ValueError:
            pass
        text, pos = line.decode("utf-8", "replace"), 0
        while pos < len(text):
            try:
                entry, pos = decoder.raw_decode(text, pos)
                kept.append(json.dumps(entry, separators=(",", ":")).encode())
            except ValueError:
                dropped += 1
                pos = text.find('{"op_code"', pos + 1)
                if pos < 0:
                    break
    backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.link(path, backup) if not backup.exists() else None
    _write_bytes_atomic(path, b"".join(entry + b"\n" for entry in kept))
    return f"dropped {dropped} damaged entr{'y' if dropped == 1 else 'ies'} of {path.name} (original kept as {backup.name})"


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a dot-named temporary file beside ``path``, fsync it, rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_temp_files(out: Path) -> None:
    """Temporary files of writes a killed process never finished (dot-named, so readers skip them)."""
    for pattern in (".*.tmp", "_layers/.*.tmp"):
        for leftover in out.glob(pattern):
            leftover.unlink(missing_ok=True)


# ---- who writes a results folder --------------------------------------------------------------------

def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _lock_exclusive(fd: int, wait_s: float) -> bool:
    """flock(LOCK_EX), waiting up to ``wait_s`` seconds; False if other processes still hold it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


_HELD_LOCKS: list[int] = []  # shared locks a worker process holds until it exits


def _hold_shared(paths: tuple[Path, ...]) -> None:
    for path in paths:
        fd = _open_lock(path)
        fcntl.flock(fd, fcntl.LOCK_SH)
        _HELD_LOCKS.append(fd)


def _worker_init(parent_pid: int) -> None:
    """In each spawned worker: die with the `dse run` that started it, even when that one is killed
    with SIGKILL (Linux: PR_SET_PDEATHSIG; elsewhere the worker notices between trials)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


_DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                errno.EPERM: "operation not permitted"}


def _disk_problem(exc: BaseException) -> str | None:
    """A short description if ``exc`` says the disk is full or not writable, else None."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno in _DISK_ERRNOS:
        return _DISK_ERRNOS[exc.errno]
    text = str(exc).lower()
    for code, problem in _DISK_ERRNOS.items():  # pyarrow puts the errno in the message only
        if problem in text or f"errno {code}]" in text:
            return problem
    return None


def _check_results_folder(out: Path, spec: StudySpec) -> None:
    """Refuse a folder another study owns, before anything is written there."""
    from dse import results as tables

    if not out.exists():
        return
    if not out.is_dir():
        raise ResultsFolderError(f"{out}: exists and is not a folder; give this study another name or "
                                 "another --results folder")
    try:
        entries = set(os.listdir(out))
    except OSError as exc:
        raise ResultsFolderError(f"{out}: cannot read the results folder ({exc.strerror})") from None
    ours = {tables.TRIALS_FILE, tables.STUDY_COPY, JOURNAL_FILE, "_layers", "_run.lock", WRITERS_LOCK}
    if entries and not entries & ours:
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise ResultsFolderError(f"{out}: holds files `dse run` did not write ({shown}); give this study "
                                 "another name ([study] name) or another --results folder")
    if tables.TRIALS_FILE in entries:
        try:
            metadata = tables.read_metadata(out)
        except Exception:  # noqa: BLE001 - an unreadable table is regenerated from the storage
            return
        theirs = metadata.get("owner")
        if metadata.get("study", spec.name) != spec.name or (theirs is not None and theirs != spec.owner()):
            raise ResultsFolderError(_owned_message(str(out), metadata.get("study", "?"), theirs, spec))


def _owned_message(where: str, study: str, theirs: dict | None, spec: StudySpec) -> str:
    path, old, new = _first_difference(theirs or {}, spec.owner())
    detail = f": {path} is {_short(old)} there, {_short(new)} in {spec.source}" if path else ""
    return (f"{where} belongs to another study ({study!r}{detail}); give this study another name "
            "([study] name) or another --results folder, or delete that folder to start afresh")


def _first_difference(a: Any, b: Any, path: str = "") -> tuple[str, Any, Any]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return "", None, None
    return path, a, b


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------

# objective(workload, hw, faults, protection, *, analog[, data]) -> TrialResult
ObjectiveFn = Callable[..., TrialResult]


@dataclass(frozen=True)
class WorkerJob:
    """Everything one worker process needs (picklable, so it survives the spawn start method)."""

    spec: StudySpec
    scenario: int
    storage_url: str | None
    results_dir: Path
    sampler_seed: int
    deadline: float | None          # time.time() after which no new trial starts
    errors_before: int              # trials failed by an error in the storage when the run began
    objective: ObjectiveFn
    threads: int | None = None      # Numba and BLAS threads of a spawned worker (cores / workers)
    heartbeat: tuple[int, int] = HEARTBEAT_S
    locks: tuple[Path, ...] = ()    # writer locks a spawned worker holds shared
    parent_pid: int | None = None   # a spawned worker stops when this process is gone


@dataclass
class ScenarioSummary:
    scenario: str
    optuna_name: str
    new_trials: int = 0
    completed: int = 0
    invalid: int = 0
    wall_s: float = 0.0
    non_dominated: int = 0
    best: dict[str, float] = field(default_factory=dict)
    invalid_example: str = ""

    @property
    def trials_per_min(self) -> float:
        return 60.0 * self.new_trials / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class RunSummary:
    study: str
    results_dir: Path
    storage: str
    workers: int
    scenarios: list[ScenarioSummary]
    notes: list[str] = field(default_factory=list)  # repairs after a killed run, failed stale trials

    def format(self) -> str:
        lines = [f"study {self.study}: storage {self.storage}, {self.workers} worker(s)"]
        lines += [f"  note: {note}" for note in self.notes]
        for s in self.scenarios:
            rate = f", {s.trials_per_min:.1f} trials/min" if s.new_trials else ""
            lines.append(f"  scenario {s.scenario}: {s.new_trials} new trial(s) in {s.wall_s:.1f} s{rate}; "
                         f"{s.completed} completed, {s.invalid} invalid design(s), "
                         f"{s.non_dominated} non-dominated")
            if s.invalid_example:
                lines.append(f"    invalid design example: {s.invalid_example}")
            if s.best:
                lines.append("    best: " + ", ".join(f"{k} {v:.6g}" for k, v in s.best.items()))
        lines.append(f"results: {self.results_dir}/ (pandas.read_parquet('{self.results_dir}') reads the trials)")
        lines.append(f"next: dse pareto {self.results_dir}   dse show {self.results_dir}")
        return "\n".join(lines)


def run_study(
    spec: StudySpec,
    *,
    workers: int = 1,
    storage: str | None = None,
    results: str | Path = "results",
    objective: ObjectiveFn | None = None,
    progress: bool = True,
) -> RunSummary:
    """Run (or resume) every scenario of ``spec`` up to its trial budget and write the tables.

    ``workers`` processes share the storage on this machine; ``storage`` (an Optuna RDB URL) lets
    workers on other machines join the same study. ``objective`` defaults to the real evaluation
    (:func:`dse.objective.evaluate_design`); tests pass a fast one.

    A run killed at any moment (SIGKILL included) loses no completed trial: running the same
    command again repairs what the killed processes left, fails their unfinished trials and runs
    replacements, up to exactly the budget. Problems with the folder or the disk raise
    :class:`ResultsFolderError` (a ``ValueError``) with one line for the user.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers (--workers) must be a positive integer, got {workers!r}")
    objective = objective or evaluate_design
    out = Path(results) / spec.name
    _check_results_folder(out, spec)
    try:
        return _run(spec, out, workers, storage, objective, progress)
    except OSError as exc:
        problem = _disk_problem(exc)
        if problem is None:
            raise
        where = exc.filename or out
        if problem in ("no space left on device", "disk quota exceeded"):
            advice = (f"the completed trials are kept in {describe_storage(storage, out)}; free some space "
                      "and run the same command again to resume")
        else:
            advice = "choose a writable --results folder (or fix its permissions)"
        raise ResultsFolderError(f"{where}: cannot write ({problem}); {advice}") from exc


def _run(spec: StudySpec, out: Path, workers: int, storage: str | None, objective: ObjectiveFn,
         progress: bool) -> RunSummary:
    import optuna

    from dse import results as tables

    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _quiet_surplus_trials()
    journal = journal_path(storage, out)
    embedded = storage is None
    notes: list[str] = []
    fds: list[int] = []
    with _run_lock(out):
        try:
            # No process of an earlier (killed) run may still write here: their leftovers are ours to clean.
            fds.append(_open_lock(out / WRITERS_LOCK))
            if not _lock_exclusive(fds[0], WRITERS_WAIT_S):
                raise ResultsFolderError(f"{out}: processes of an earlier `dse run` still write here; wait for "
                                         "them to finish (or stop them) and run again")
            _remove_temp_files(out)
            locks = [out / WRITERS_LOCK]
            owns_journal = embedded  # only this run's processes can write the folder's own journal
            if journal is not None and not embedded:  # a journal file other runs may share
                locks.append(journal.with_name(f"{journal.name}.writers.lock"))
                fds.append(_open_lock(locks[-1]))
                owns_journal = _lock_exclusive(fds[-1], 0.0)
                if not owns_journal:
                    fcntl.flock(fds[-1], fcntl.LOCK_SH)
            if owns_journal:
                notes += repair_journal(journal)
            store = _open_checked_storage(storage, out, owns_journal, notes)
            studies = [_open_study(spec, scenario, store, owns=owns_journal, notes=notes)
                       for scenario in spec.scenarios]
            for fd in fds:  # let this run's workers in
                fcntl.flock(fd, fcntl.LOCK_SH)
            _write_bytes_atomic(out / tables.STUDY_COPY, spec.text.encode())
            summaries, finished = [], False
            try:
                for index, study in enumerate(studies):
                    summaries.append(_run_scenario(spec, index, study, workers, storage, out, objective,
                                                   progress, tuple(locks)))
                finished = True
            finally:  # also after Ctrl-C or a failed trial: the tables hold every completed trial
                try:
                    table = tables.export(spec, store, out)
                except Exception:
                    if finished:
                        raise
                    # the run's own error says more; the previous tables stay complete
        finally:
            for fd in fds:
                os.close(fd)
    for summary, study in zip(summaries, studies):
        _fill_summary(summary, spec, study, table)
    return RunSummary(spec.name, out, describe_storage(storage, out), workers, summaries, notes)


def _open_checked_storage(storage: str | None, out: Path, owns_journal: bool, notes: list[str]):
    """open_storage, salvaging a journal damaged in its middle when no other process writes it."""
    try:
        return open_storage(storage, out)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        journal = journal_path(storage, out)
        if journal is None or isinstance(exc, StorageError):
            raise
        if not owns_journal:
            raise StorageError(f"{journal}: Optuna cannot read this journal ({exc}); run again when no other "
                               "`dse run` uses it, and it will be repaired") from None
        notes.append(salvage_journal(journal))
        return open_storage(storage, out)


@contextlib.contextmanager
def _run_lock(out: Path):
    """One ``dse run`` at a time per results folder (use --workers for parallel trials)."""
    fd = _open_lock(out / "_run.lock")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
        except BlockingIOError:
            raise ValueError(f"another `dse run` is using {out}; wait for it, or add processes with "
                             "--workers instead") from None
        yield
    finally:
        os.close(fd)


class _SurplusFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SurplusTrial" not in record.getMessage()


def _quiet_surplus_trials() -> None:
    """Optuna logs every failed trial; a trial beyond the budget is failed on purpose, silently."""
    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _SurplusFilter) for f in logger.filters):
        logger.addFilter(_SurplusFilter())


def _open_study(spec: StudySpec, scenario: Scenario, storage, *, owns: bool, notes: list[str]):
    """Create or resume the scenario's Optuna study; check that a resumed study still fits the file.

    ``owns``: no other process writes the storage, so trials left running were left by a killed run.
    """
    import optuna
    from optuna.distributions import check_distribution_compatibility
    from optuna.trial import TrialState

    study = optuna.create_study(storage=storage, study_name=spec.optuna_name(scenario),
                                directions=spec.directions, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != spec.directions:
        raise ValueError(f"{spec.source}: objectives: study {study.study_name!r} already exists in the "
                         "storage with other objectives; rename the study or use a new --results folder")
    attrs = study.user_attrs
    owner = spec.owner()
    if attrs.get("dse_owner") not in (None, owner):
        raise ResultsFolderError(_owned_message(f"Optuna study {study.study_name!r} in {storage_name(storage)}",
                                                attrs.get("dse_study", spec.name), attrs["dse_owner"], spec))
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    if finished:
        previous = finished[-1].distributions
        for param in spec.search:
            old = previous.get(param.name)
            try:
                if old is not None:
                    check_distribution_compatibility(old, param.distribution())
            except ValueError:
                raise ValueError(f"{spec.source}: search.{param.name}: changed since study "
                                 f"{study.study_name!r} started ({old} before); rename the study to "
                                 "start afresh") from None
    stale = [t for t in trials if t.state == TrialState.RUNNING]
    if owns:  # a killed run left them RUNNING; nobody else can finish them
        for trial in stale:
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    elif stale:  # RDB: trials whose worker stopped sending heartbeats (see HEARTBEAT_S)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        stale = [t for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                 if t.number in {s.number for s in stale}]
    if stale:
        notes.append(f"{study.study_name}: failed {len(stale)} trial(s) left running by a killed run; "
                     "they are replaced")
    for key, value in (("workload", spec.workload), ("objectives", [o.metric for o in spec.objectives]),
                       ("dse_owner", owner), ("dse_study", spec.name)):
        if attrs.get(key) != value:  # every attribute is a synced write
            study.set_user_attr(key, value)
    return study


def storage_name(storage) -> str:
    url = getattr(storage, "url", None)
    if url:
        return redact(str(url))
    backend = getattr(storage, "_backend", None)
    return str(getattr(backend, "_file_path", "the storage"))


def _trial_counts(study) -> tuple[int, int]:
    """(trials counting towards the budget: completed, invalid or running; trials failed by an error)."""
    from optuna.trial import TrialState

    taken = errors = 0
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING):
            taken += 1
        elif t.state == TrialState.FAIL and "error" in t.user_attrs:
            errors += 1
    return taken, errors


def _run_scenario(spec, index, study, workers, storage_url, out, objective, progress, locks) -> ScenarioSummary:
    from tqdm import tqdm

    scenario = spec.scenarios[index]
    summary = ScenarioSummary(scenario.name, study.study_name)
    start_count, errors_before = _trial_counts(study)
    remaining = max(0, spec.trial_budget() - start_count)
    if remaining == 0:
        return summary
    deadline = None if spec.timeout_s is None else time.time() + spec.timeout_s
    jobs = [
        WorkerJob(spec, index, storage_url, out, _worker_seed(spec, index, w, start_count), deadline,
                  errors_before, objective, threads=None if workers == 1 else max(1, os.cpu_count() // workers),
                  heartbeat=HEARTBEAT_S, locks=locks if workers > 1 else (),
                  parent_pid=os.getpid() if workers > 1 else None)
        for w in range(workers)
    ]
    label = spec.name if len(spec.scenarios) == 1 else f"{spec.name} [{scenario.name}]"
    bar = tqdm(total=remaining, desc=label, unit="trial", disable=not progress, dynamic_ncols=True)

    def show_progress() -> None:
        bar.update(max(0, min(remaining, _trial_counts(study)[0] - start_count) - bar.n))

    started = time.perf_counter()
    try:
        if workers == 1:
            run_worker(jobs[0], on_trial=show_progress if progress else None)
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                     initargs=(os.getpid(),)) as pool:
                futures = [pool.submit(run_worker, job) for job in jobs]
                while not all(f.done() for f in futures):
                    time.sleep(0.5)
                    if progress:
                        show_progress()
                for future in futures:
                    future.result()  # re-raises a worker's exception here
    finally:
        bar.close()
    summary.wall_s = time.perf_counter() - started
    summary.new_trials = _trial_counts(study)[0] - start_count
    return summary


def _worker_seed(spec: StudySpec, scenario: int, worker: int, start_count: int) -> int:
    """Seed of one worker's sampler: a serial run from scratch reproduces; a resumed run moves on."""
    sequence = np.random.SeedSequence([spec.sampler.seed, scenario, worker, start_count])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


EXPORT_EVERY_S = 5.0


def run_worker(job: WorkerJob, on_trial: Callable[[], None] | None = None) -> int:
    """One worker: ask, evaluate, tell, until the budget or the deadline; returns trials it ran."""
    import optuna

    from dse import results as tables

    if job.threads:  # share the cores between workers instead of every worker using them all
        from threadpoolctl import threadpool_limits

        os.environ["NUMBA_NUM_THREADS"] = str(job.threads)  # read when Numba is first imported
        threadpool_limits(job.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _quiet_surplus_trials()
    _hold_shared(job.locks)
    spec = job.spec
    scenario = spec.scenarios[job.scenario]
    storage = open_storage(job.storage_url, job.results_dir, heartbeat=job.heartbeat)
    study = optuna.load_study(study_name=spec.optuna_name(scenario), storage=storage,
                              sampler=make_sampler(spec, job.sampler_seed))
    trial_fn = TrialFunction(spec, scenario, job.objective)
    budget = spec.trial_budget()
    ran, last_export = 0, time.monotonic()
    while True:
        if job.parent_pid is not None and os.getppid() != job.parent_pid:
            break  # the `dse run` that started this worker is gone
        taken, errors = _trial_counts(study)
        if taken >= budget or errors > job.errors_before:  # done, or another worker failed
            break
        if job.deadline is not None and time.time() >= job.deadline:
            break
        try:
            study.optimize(trial_fn, n_trials=1, catch=(SurplusTrial,))
        except AssertionError as exc:  # Optuna 5 reports a failed write at tell time as "Should not reach."
            if isinstance(exc.__context__, OSError):
                raise exc.__context__ from None
            raise
        ran += 1
        if on_trial:
            on_trial()
        if time.monotonic() - last_export > EXPORT_EVERY_S:  # keep the tables fresh during long runs
            tables.export(spec, storage, job.results_dir)
            last_export = time.monotonic()
    return ran


class SurplusTrial(Exception):
    """Raised for a trial that started when other workers had already started the last trials of the
    budget: it is failed before it evaluates anything (user attribute ``surplus``)."""


@dataclass(frozen=True)
class TrialFunction:
    """The Optuna objective: suggest parameters, build the configs, evaluate, record, return values."""

    spec: StudySpec
    scenario: Scenario
    objective: ObjectiveFn

    def __call__(self, trial) -> tuple[float, ...]:
        import optuna

        self._claim(trial)
        try:
            return self._evaluate(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # a bug, not an invalid design: other workers stop (see run_worker)
            trial.set_user_attr("error", _clip(f"{type(exc).__name__}: {exc}", 1000))
            raise

    def _claim(self, trial) -> None:
        """Exact budgets with any number of workers: two workers may both see one trial left and both
        start one. Trial numbers are handed out in order by the storage, so a trial with ``budget``
        non-failed trials before it is one too many: fail it before it evaluates anything."""
        from optuna.trial import TrialState

        budget = self.spec.trial_budget()
        before = sum(1 for t in trial.study.get_trials(deepcopy=False)
                     if t.number < trial.number and t.state != TrialState.FAIL)
        if before >= budget:
            trial.set_user_attr("surplus", f"{budget} trial(s) were already started; not evaluated")
            raise SurplusTrial(f"trial {trial.number}: the budget of {budget} trial(s) is taken")

    def _evaluate(self, trial) -> tuple[float, ...]:
        params = {p.name: p.suggest(trial) for p in self.spec.search}
        earlier = _same_design(trial, params)
        if earlier is not None:  # evaluation is deterministic: reuse the numbers, keep one row per trial
            return self._reuse(trial, earlier)
        try:
            hw = make_config(HardwareConfig, self.spec.hardware, params)
            protection = make_config(Protection, self.spec.protection, params)
        except ValueError as exc:  # e.g. cols_per_adc > cols: not a design, not a bug
            self._invalid(trial, exc)
        extra = {"data": self.spec.data_path} if self.spec.data_path else {}
        started = time.perf_counter()
        try:
            result = self.objective(self.spec.workload_ref, hw, self.scenario.faults, protection,
                                    analog=self.scenario.analog, **extra)
        except ValueError as exc:  # a combination the mapping cannot realise (e.g. no room for copies)
            self._invalid(trial, exc)
        wall_time_s = time.perf_counter() - started
        metrics = _plain(result.metrics)
        needed = [o.metric for o in self.spec.objectives] + [c.metric for c in self.spec.constraints]
        missing = [m for m in needed if m not in metrics]
        if missing:
            raise KeyError(f"the objective did not report {missing}; it reported {sorted(metrics)}")
        # One user attribute per headline number, so optuna-dashboard lists them; the rest (the cost
        # breakdown per component) in one, as every attribute is a synced write to the journal.
        for name, value in metrics.items():
            if name in HEADLINE_METRICS:
                trial.set_user_attr(name, value)
        trial.set_user_attr("breakdown", {k: v for k, v in metrics.items() if k not in HEADLINE_METRICS})
        for constraint in self.spec.constraints:  # <= 0 when met; NSGA-II, TPE and GP use them
            trial.set_constraint(constraint.metric, constraint.violation(metrics[constraint.metric]))
        trial.set_user_attr("design", _plain({**dataclasses.asdict(hw), **dataclasses.asdict(protection),
                                              **dataclasses.asdict(self.scenario.faults),
                                              **dataclasses.asdict(self.scenario.analog)}))
        trial.set_user_attr("layers", _plain(list(result.layers)))
        trial.set_user_attr("wall_time_s", wall_time_s)
        trial.set_user_attr("package_version", __version__)
        return tuple(float(metrics[o.metric]) for o in self.spec.objectives)

    def _reuse(self, trial, earlier) -> tuple[float, ...]:
        """Copy an earlier trial's results (same parameters) instead of evaluating again."""
        import optuna
        from optuna.trial import TrialState

        for name, value in earlier.user_attrs.items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("reused_from", earlier.number)
        trial.set_user_attr("wall_time_s", 0.0)  # nothing evaluated
        for name, value in earlier.constraints.items():
            trial.set_constraint(name, value)
        if earlier.state == TrialState.PRUNED:
            raise optuna.TrialPruned(earlier.user_attrs.get("invalid", "invalid design"))
        return tuple(earlier.values)

    def _invalid(self, trial, exc: ValueError) -> typing.NoReturn:
        """Record why a design is invalid and prune it (it counts towards the trial budget)."""
        import optuna

        trial.set_user_attr("invalid", str(exc))
        for constraint in self.spec.constraints:
            trial.set_constraint(constraint.metric, 1.0)
        raise optuna.TrialPruned(str(exc))


def _same_design(trial, params: dict[str, Any]):
    """An earlier finished trial of this study with exactly these parameters, or None."""
    from optuna.trial import TrialState

    for earlier in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if earlier.params == params and "reused_from" not in earlier.user_attrs:
            return earlier
    return None


def _plain(value: Any) -> Any:
    """Numbers and containers as plain Python (numpy scalars are not JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fill_summary(summary: ScenarioSummary, spec: StudySpec, study, table) -> None:
    """Totals for the end-of-run summary: from the trials table and the storage's invalid designs."""
    from optuna.trial import TrialState

    rows = table[table["scenario"] == summary.scenario]
    summary.completed = len(rows)
    summary.non_dominated = int(rows["is_pareto"].sum())
    feasible = rows[rows["feasible"]]
    if len(feasible):
        for o in spec.objectives:
            column = feasible[o.metric]
            summary.best[o.metric] = float(column.max() if o.direction == "maximize" else column.min())
    invalid = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    summary.invalid = len(invalid)
    if invalid:
        summary.invalid_example = invalid[-1].user_attrs.get("invalid", "")


# --------------------------------------------------------------------------------------------------
# Benchmark (called by `dse bench study`)
# --------------------------------------------------------------------------------------------------

def bench_study(study: str | Path = "studies/quickstart.toml", *, trials: int | None = 16,
                workers: tuple[int, ...] = (1, 2), objective: ObjectiveFn | None = None) -> dict:
    """Trials per minute of a study with 1, 2, ... workers, each run from scratch in a temp folder.

    ``trials`` overrides the study's budget (None keeps it); the timeout is dropped so every run does
    the same work. Start-up (spawning workers, loading the workload) counts, as it does for users.
    Returns ``{"study", "trials", "runs": [{"workers", "trials", "wall_s", "trials_per_min"}]}``.
    """
    spec = dataclasses.replace(load_study(study).with_overrides(trials=trials), timeout_s=None)
    runs = []
    for count in workers:
        with tempfile.TemporaryDirectory(prefix="dse-bench-") as tmp:
            summary = run_study(spec, workers=count, results=tmp, objective=objective, progress=False)
        done = sum(s.new_trials for s in summary.scenarios)
        wall = sum(s.wall_s for s in summary.scenarios)
        runs.append({"workers": count, "trials": done, "wall_s": wall,
                     "trials_per_min": 60.0 * done / wall if wall else 0.0})
    return {"study": spec.name, "trials": spec.trials, "runs": runs}
