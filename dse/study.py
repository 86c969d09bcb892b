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
import fcntl
import importlib.util
import itertools
import math
import multiprocessing
import os
import re
import tempfile
import time
import tomllib
import typing
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dse import __version__
from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection
from dse.objective import HEADLINE_METRICS, METRICS, TrialResult, evaluate_design, split_params

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
STUDY_KEYS = ("name", "workload", "trials", "timeout_s", "description")
FAULT_KEYS = tuple(f.name for f in dataclasses.fields(FaultScenario))
ANALOG_KEYS = tuple(f.name for f in dataclasses.fields(AnalogEffects))
SCENARIO_KEYS = ("name",) + FAULT_KEYS + ANALOG_KEYS
# Every searchable parameter and the config class it belongs to.
SEARCHABLE: dict[str, type] = {
    **{f.name: HardwareConfig for f in dataclasses.fields(HardwareConfig)},
    **{f.name: Protection for f in dataclasses.fields(Protection)},
}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class StudyFileError(ValueError):
    """A study file problem, reported as ``<file>: <key>: <problem>`` before any trial runs."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.source, self.key, self.problem = source, key, problem


def field_type(cls: type, name: str) -> type:
    """The Python type (int, float, str or bool) of a config dataclass field."""
    return typing.get_type_hints(cls)[name]


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
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1  # as Optuna: never above high
        return [round(self.low + i * self.step, 12) for i in range(count)]

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
    workload: str
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

    def optuna_name(self, scenario: Scenario) -> str:
        return self.name if len(self.scenarios) == 1 else f"{self.name}:{scenario.name}"

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    def trial_budget(self) -> int:
        """Finished trials each scenario aims for; a grid never needs more than its points."""
        if self.sampler.name == "grid":
            return min(self.trials, math.prod(len(p.grid()) for p in self.search))
        return self.trials

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


def load_study(path: str | Path) -> StudySpec:
    """Read and validate a study file; raises :class:`StudyFileError` naming the file and key."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise StudyFileError(source, "(file)", f"cannot read the study file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyFileError(source, "(syntax)", f"not valid TOML: {exc}") from None
    return parse_study(data, source=source, text=text, default_name=path.stem)


def parse_study(data: dict[str, Any], *, source: str = "<study>", text: str = "",
                default_name: str = "study") -> StudySpec:
    """Validate the parsed TOML of a study file (see ``docs/studies.md`` for the schema)."""
    _check_keys(data, SECTIONS, source, "")
    study = _table(data, "study", source)
    _check_keys(study, STUDY_KEYS, source, "study")

    name = study.get("name", default_name)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise StudyFileError(source, "study.name", f"{name!r} is not usable as a folder name; use "
                             "letters, digits, '_', '-' and '.', starting with a letter or digit")
    workload = study.get("workload")
    known = known_workloads()
    if workload not in known:
        problem = "missing" if workload is None else f"{workload!r} is not a built-in workload"
        raise StudyFileError(source, "study.workload", f"{problem}; allowed: {', '.join(known)}")
    trials = study.get("trials", 20)
    _check_positive_int(trials, source, "study.trials")
    timeout_s = study.get("timeout_s")
    if timeout_s is not None:
        _check_positive_number(timeout_s, source, "study.timeout_s")
    description = study.get("description", "")
    if not isinstance(description, str):
        raise StudyFileError(source, "study.description", f"must be text, got {description!r}")

    hardware = _table(data, "hardware", source)
    protection = _table(data, "protection", source)
    for section, cls in (("hardware", HardwareConfig), ("protection", Protection)):
        allowed = [f.name for f in dataclasses.fields(cls)]
        _check_keys(data.get(section, {}), allowed, source, section)
    search = _parse_search(data, hardware, protection, source)
    for section, cls, fixed in (("hardware", HardwareConfig, hardware), ("protection", Protection, protection)):
        _validate_candidates(cls, section, fixed, [p for p in search if SEARCHABLE[p.name] is cls], source)

    sampler = _parse_sampler(data, source)
    if sampler.name == "grid":
        for p in search:
            if isinstance(p, Range) and not p.integer and p.step is None:
                raise StudyFileError(source, f"search.{p.name}", "the grid sampler needs a list of "
                                     "values or a range with a step")
    if not search:
        raise StudyFileError(source, "search", "the search space is empty; add at least one parameter, "
                             f"allowed: {', '.join(SEARCHABLE)}")

    return StudySpec(
        name=name, workload=workload, hardware=dict(hardware), protection=dict(protection),
        scenarios=_parse_scenarios(data, source), search=tuple(search),
        objectives=_parse_objectives(data, source), constraints=_parse_constraints(data, source),
        sampler=sampler, trials=trials, timeout_s=None if timeout_s is None else float(timeout_s),
        description=description, source=source, text=text,
    )


def known_workloads() -> tuple[str, ...]:
    from dse.workloads import list_workloads

    return tuple(list_workloads())


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise StudyFileError(source, key, f"must be a table ([{key}]), got {type(value).__name__}")
    return value


def _check_keys(table: dict[str, Any], allowed, source: str, section: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{section}.{key}" if section else key
            raise StudyFileError(source, where, f"unknown key; allowed: {', '.join(allowed)}")


def _check_positive_int(value: Any, source: str, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyFileError(source, key, f"must be a positive integer, got {value!r}")


def _check_positive_number(value: Any, source: str, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise StudyFileError(source, key, f"must be a positive number of seconds, got {value!r}")


def _parse_search(data, hardware, protection, source) -> list[Param]:
    params: list[Param] = []
    for name, value in _table(data, "search", source).items():
        key = f"search.{name}"
        if name not in SEARCHABLE:
            raise StudyFileError(source, key, f"not a searchable parameter; allowed: {', '.join(SEARCHABLE)}")
        if name in hardware or name in protection:
            section = "hardware" if name in hardware else "protection"
            raise StudyFileError(source, key, f"also fixed in [{section}]; keep one of the two")
        kind = field_type(SEARCHABLE[name], name)
        if isinstance(value, list):
            params.append(_parse_choice(name, value, kind, source))
        elif isinstance(value, dict):
            params.append(_parse_range(name, value, kind, source))
        else:
            raise StudyFileError(source, key, "must be a list of values ([1, 2, 4]) or a range "
                                 "({ low = 0.0, high = 0.5 }, optional step and log)")
    return params


def _typed(value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` (int, float, str or bool), or raise TypeError."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type(value) is kind:
        return value
    raise TypeError(f"expected {kind.__name__}, got {value!r}")


def _parse_choice(name: str, values: list, kind: type, source: str) -> Choice:
    key = f"search.{name}"
    if not values:
        raise StudyFileError(source, key, "the list of values is empty")
    try:
        typed = tuple(_typed(v, kind) for v in values)
    except TypeError as exc:
        raise StudyFileError(source, key, f"{exc} ({name} takes {kind.__name__} values)") from None
    if len(set(typed)) != len(typed):
        raise StudyFileError(source, key, f"the list repeats a value: {list(values)}")
    return Choice(name, typed)


def _parse_range(name: str, spec: dict, kind: type, source: str) -> Range:
    key = f"search.{name}"
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
        raise StudyFileError(source, key, f"{exc} ({name} is {'an integer' if integer else 'a number'})") from None
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise StudyFileError(source, f"{key}.log", f"must be true or false, got {log!r}")
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
    try:
        cls(**fixed)
    except ValueError as exc:
        if not params:  # otherwise a searched value may be what makes the fixed values valid
            raise StudyFileError(source, section, str(exc)) from None
    for param in params:
        others = [p for p in params if p is not param]
        for value in param.candidates():
            combos = itertools.product(*(o.candidates() for o in others))
            error = None
            for combo in itertools.islice(combos, 512):
                values = {**fixed, param.name: value, **{o.name: v for o, v in zip(others, combo)}}
                try:
                    cls(**values)
                    break
                except ValueError as exc:
                    error = error or exc
            else:
                raise StudyFileError(source, f"search.{param.name}", f"{value!r} can never be used: {error}")


def _parse_sampler(data, source) -> SamplerSpec:
    table = _table(data, "sampler", source)
    name = table.get("name", "nsga2")
    if name not in SAMPLERS:
        raise StudyFileError(source, "sampler.name", f"{name!r} is not a sampler; allowed: {', '.join(SAMPLERS)}")
    if name == "gp" and importlib.util.find_spec("torch") is None:
        raise StudyFileError(source, "sampler.name", "the gp sampler needs PyTorch (pip install torch); "
                             f"allowed without it: {', '.join(s for s in SAMPLERS if s != 'gp')}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise StudyFileError(source, "sampler.seed", f"must be a non-negative integer, got {seed!r}")
    allowed = SAMPLER_OPTIONS[name]
    _check_keys(table, ("name", "seed", *allowed), source, "sampler")
    options = []
    for key, value in table.items():
        if key in allowed:
            try:
                options.append((key, _typed(value, allowed[key])))
            except TypeError as exc:
                raise StudyFileError(source, f"sampler.{key}", str(exc)) from None
    return SamplerSpec(name, seed, tuple(options))


def _parse_scenarios(data, source) -> tuple[Scenario, ...]:
    raw = data.get("faults", {})
    tables = raw if isinstance(raw, list) else [raw]
    if not tables:
        raise StudyFileError(source, "faults", "give one [faults] table or several [[faults]] tables")
    scenarios = []
    for i, table in enumerate(tables):
        where = "faults" if len(tables) == 1 else f"faults[{i}]"
        if not isinstance(table, dict):
            raise StudyFileError(source, where, "must be a table")
        _check_keys(table, SCENARIO_KEYS, source, where)
        name = table.get("name", "default" if len(tables) == 1 else None)
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise StudyFileError(source, f"{where}.name", "each of several scenarios needs a name "
                                 f"(letters, digits, '_', '-', '.'), got {name!r}")
        try:
            faults = FaultScenario(**{k: v for k, v in table.items() if k in FAULT_KEYS})
            analog = AnalogEffects(**{k: v for k, v in table.items() if k in ANALOG_KEYS})
            scenarios.append(Scenario(name, faults, analog))
        except ValueError as exc:
            raise StudyFileError(source, where, str(exc)) from None
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise StudyFileError(source, "faults", f"scenario names must differ, got {names}")
    return tuple(scenarios)


def _parse_objectives(data, source) -> tuple[Objective, ...]:
    table = _table(data, "objectives", source) or dict(DEFAULT_OBJECTIVES)
    objectives = []
    for metric, direction in table.items():
        if metric not in METRICS:
            raise StudyFileError(source, f"objectives.{metric}", f"not a metric; allowed: {', '.join(METRICS)}")
        if direction not in DIRECTIONS:
            raise StudyFileError(source, f"objectives.{metric}", f"direction {direction!r}; allowed: "
                                 f"{', '.join(DIRECTIONS)}")
        objectives.append(Objective(metric, direction))
    return tuple(objectives)


def _parse_constraints(data, source) -> tuple[Constraint, ...]:
    constraints = []
    for metric, text in _table(data, "constraints", source).items():
        key = f"constraints.{metric}"
        if metric not in METRICS:
            raise StudyFileError(source, key, f"not a metric; allowed: {', '.join(METRICS)}")
        match = re.fullmatch(r"\s*(>=|<=)\s*(\S+)\s*", text) if isinstance(text, str) else None
        try:
            bound = float(match.group(2)) if match else math.nan
        except ValueError:
            bound = math.nan
        if not math.isfinite(bound):
            raise StudyFileError(source, key, f"write a bound like \">= 0.9\" or \"<= 1e5\" "
                                 f"(operators: {', '.join(CONSTRAINT_OPS)}), got {text!r}")
        constraints.append(Constraint(metric, match.group(1), bound))
    return tuple(constraints)


# --------------------------------------------------------------------------------------------------
# Sampler and storage
# --------------------------------------------------------------------------------------------------

def make_sampler(spec: StudySpec, seed: int):
    """The Optuna sampler a study file asks for, seeded with ``seed``.

    Constraints reach the samplers that use them (NSGA-II, TPE, GP) through ``trial.set_constraint``;
    random and grid sampling ignore them, and the tables still mark each design ``feasible``.
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
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # The grid is shuffled by its seed and trial n takes point n: every worker needs the same order.
    return optuna.samplers.GridSampler({p.name: p.grid() for p in spec.search}, seed=spec.sampler.seed)


JOURNAL_FILE = "_optuna.journal"


def open_storage(url: str | None, results_dir: Path):
    """Optuna storage: a journal file in ``results_dir`` (no server) unless ``url`` names another.

    ``url`` may be an RDB URL (``sqlite:///x.db``, ``postgresql://user@host/db``: several machines
    share one study) or a path to a journal file.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url and "://" in url:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna 5, and what we want
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    path = Path(url) if url else Path(results_dir) / JOURNAL_FILE
    return JournalStorage(JournalFileBackend(str(path)))


def describe_storage(url: str | None, results_dir: Path) -> str:
    return url if url else str(Path(results_dir) / JOURNAL_FILE)


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------

# objective(workload, hw, faults, protection, *, analog) -> TrialResult
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
    failed_before: int              # failed trials in the storage when the run began
    objective: ObjectiveFn
    threads: int | None = None      # Numba and BLAS threads of a spawned worker (cores / workers)


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

    def format(self) -> str:
        lines = [f"study {self.study}: storage {self.storage}, {self.workers} worker(s)"]
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
    """
    import optuna

    from dse import results as tables

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers (--workers) must be a positive integer, got {workers!r}")
    objective = objective or evaluate_design
    out = Path(results) / spec.name
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _run_lock(out):
        store = open_storage(storage, out)
        studies = [_open_study(spec, scenario, store, embedded=not (storage and "://" in storage))
                   for scenario in spec.scenarios]
        (out / tables.STUDY_COPY).write_text(spec.text)
        try:
            summaries = [_run_scenario(spec, index, study, workers, storage, out, objective, progress)
                         for index, study in enumerate(studies)]
        finally:  # also after Ctrl-C or a failed trial: the tables hold every completed trial
            table = tables.export(spec, store, out)
        for summary, study in zip(summaries, studies):
            _fill_summary(summary, spec, study, table)
    return RunSummary(spec.name, out, describe_storage(storage, out), workers, summaries)


@contextlib.contextmanager
def _run_lock(out: Path):
    """One ``dse run`` at a time per results folder (use --workers for parallel trials)."""
    with open(out / "_run.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
        except BlockingIOError:
            raise ValueError(f"another `dse run` is using {out}; wait for it, or add processes with "
                             "--workers instead") from None
        yield


def _open_study(spec: StudySpec, scenario: Scenario, storage, *, embedded: bool):
    """Create or resume the scenario's Optuna study; check that a resumed study still fits the file."""
    import optuna
    from optuna.distributions import check_distribution_compatibility
    from optuna.trial import TrialState

    study = optuna.create_study(storage=storage, study_name=spec.optuna_name(scenario),
                                directions=spec.directions, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != spec.directions:
        raise ValueError(f"{spec.source}: objectives: study {study.study_name!r} already exists in the "
                         "storage with other objectives; rename the study or use a new --results folder")
    study.set_user_attr("workload", spec.workload)
    study.set_user_attr("objectives", [o.metric for o in spec.objectives])
    trials = study.get_trials(deepcopy=False)
    if embedded:  # a killed run leaves RUNNING trials behind; only this process can own them
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
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
    return study


def _trial_counts(study) -> tuple[int, int]:
    """(trials counting towards the budget: completed, invalid or running; failed trials)."""
    from optuna.trial import TrialState

    states = [t.state for t in study.get_trials(deepcopy=False)]
    taken = sum(s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) for s in states)
    return taken, states.count(TrialState.FAIL)


def _run_scenario(spec, index, study, workers, storage_url, out, objective, progress) -> ScenarioSummary:
    from tqdm import tqdm

    scenario = spec.scenarios[index]
    summary = ScenarioSummary(scenario.name, study.study_name)
    start_count, failed_before = _trial_counts(study)
    remaining = max(0, spec.trial_budget() - start_count)
    if remaining == 0:
        return summary
    deadline = None if spec.timeout_s is None else time.time() + spec.timeout_s
    jobs = [
        WorkerJob(spec, index, storage_url, out, _worker_seed(spec, index, w, start_count), deadline,
                  failed_before, objective, threads=None if workers == 1 else max(1, os.cpu_count() // workers))
        for w in range(workers)
    ]
    label = spec.name if len(spec.scenarios) == 1 else f"{spec.name} [{scenario.name}]"
    bar = tqdm(total=remaining, desc=label, unit="trial", disable=not progress, dynamic_ncols=True)
    started = time.perf_counter()
    try:
        if workers == 1:
            run_worker(jobs[0], on_trial=lambda: bar.update(1))
        else:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(run_worker, job) for job in jobs]
                while not all(f.done() for f in futures):
                    time.sleep(0.5)
                    bar.update(min(remaining, _trial_counts(study)[0] - start_count) - bar.n)
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
    spec = job.spec
    scenario = spec.scenarios[job.scenario]
    storage = open_storage(job.storage_url, job.results_dir)
    study = optuna.load_study(study_name=spec.optuna_name(scenario), storage=storage,
                              sampler=make_sampler(spec, job.sampler_seed))
    trial_fn = TrialFunction(spec, scenario, job.objective)
    ran, last_export = 0, time.monotonic()
    while True:
        taken, failed = _trial_counts(study)
        if taken >= spec.trial_budget() or failed > job.failed_before:  # done, or another worker failed
            break
        if job.deadline is not None and time.time() >= job.deadline:
            break
        study.optimize(trial_fn, n_trials=1)
        ran += 1
        if on_trial:
            on_trial()
        if time.monotonic() - last_export > EXPORT_EVERY_S:  # keep the tables fresh during long runs
            tables.export(spec, storage, job.results_dir)
            last_export = time.monotonic()
    return ran


@dataclass(frozen=True)
class TrialFunction:
    """The Optuna objective: suggest parameters, build the configs, evaluate, record, return values."""

    spec: StudySpec
    scenario: Scenario
    objective: ObjectiveFn

    def __call__(self, trial) -> tuple[float, ...]:
        params = {p.name: p.suggest(trial) for p in self.spec.search}
        earlier = _same_design(trial, params)
        if earlier is not None:  # evaluation is deterministic: reuse the numbers, keep one row per trial
            return self._reuse(trial, earlier)
        hw_params, protection_params = split_params(params)
        try:
            hw = HardwareConfig(**{**self.spec.hardware, **hw_params})
            protection = Protection(**{**self.spec.protection, **protection_params})
        except ValueError as exc:  # e.g. cols_per_adc > cols: not a design, not a bug
            self._invalid(trial, exc)
        started = time.perf_counter()
        try:
            result = self.objective(self.spec.workload, hw, self.scenario.faults, protection,
                                    analog=self.scenario.analog)
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
