"""What a study searches: :class:`StudySpec` and its parts (parameters, objectives, constraints,
scenarios, sampler choice), as :mod:`dse.study.parse` builds them from a study file.

Also the small pieces every stage of a study shares: :class:`StudyFileError` and the one-line message
helpers, and :func:`make_config` (a design's parameters on top of a study's fixed values).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dse.config import PER_LAYER_FIELDS, AnalogEffects, FaultScenario, HardwareConfig, Protection, layer_key, split_layer_key
from dse.study.objective import split_params
from dse.workloads.workload import WorkloadInfo

# Every searchable parameter and the config class it belongs to. The per-layer fields
# (row_prune_layers, col_prune_layers) are tables of layers: each layer is its own parameter
# ``row_prune_layers.<layer>``. The backend says where trials run, not what they compute: fixed only.
SEARCHABLE: dict[str, type] = {
    **{f.name: HardwareConfig for f in dataclasses.fields(HardwareConfig) if f.name != "backend"},
    **{f.name: Protection for f in dataclasses.fields(Protection)},
}


def param_class(name: str) -> type:
    """The config class a (possibly per-layer) parameter name belongs to."""
    layered = split_layer_key(name)
    return SEARCHABLE[layered[0] if layered else name]


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
    # [hypervolume]: the box the hypervolume is measured in, one value per objective in objective order
    # (None: ideal 1 for maximised and 0 for minimised objectives; reference fixed at the first export)
    hypervolume_ideal: tuple[float, ...] | None = None
    hypervolume_reference: tuple[float, ...] | None = None
    max_test: int | None = None       # test examples per chip (the first of the test split); None: all
    # content hashes of what the numbers depend on beyond the file (dse.study.provenance); set by run_study
    provenance: dict[str, Any] | None = None

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
        if self.model_path is not None:
            workload = f"model file {Path(self.workload).name} (sha256 {self.model_digest[:16]})"
        elif self.data_path is not None:
            workload = f"{self.workload} on {Path(self.data_path).name} (sha256 {self.model_digest[:16]})"
        else:
            workload = self.workload
        test = {} if self.max_test is None else {"max_test": self.max_test}  # a prefix is another test set
        return plain({
            "workload": workload,
            **test,
            # a tech file by its name (its content is in the provenance), so the folder's own copy resumes it
            "hardware": {k: tech_name(v) if k == "tech" else v for k, v in sorted(self.hardware.items())
                         if k != "backend"},  # same numbers
            "protection": dict(sorted(self.protection.items())),
            "faults": {s.name: {**dataclasses.asdict(s.faults), **dataclasses.asdict(s.analog)}
                       for s in self.scenarios},
            "objectives": [f"{o.direction} {o.metric}" for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
            **({} if self.provenance is None else {"provenance": self.provenance}),
        })

    def with_overrides(self, trials: int | None = None, timeout_s: float | None = None) -> "StudySpec":
        """The same study with command-line overrides (validated like the file's own values)."""
        spec = self
        if trials is not None:
            check_positive_int(trials, self.source, "trials (--trials)")
            spec = dataclasses.replace(spec, trials=trials)
        if timeout_s is not None:
            check_positive_number(timeout_s, self.source, "timeout_s (--timeout-s)")
            spec = dataclasses.replace(spec, timeout_s=float(timeout_s))
        return spec

def tech_name(tech: Any) -> Any:
    """A tech preset name as given; a ``.toml`` file by its file name."""
    return Path(tech).name if isinstance(tech, str) and tech.endswith(".toml") else tech


def check_positive_int(value: Any, source: str, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StudyFileError(source, key, f"must be a positive integer, got {short_repr(value)}")


def short_repr(value: Any, limit: int = 80) -> str:
    """repr of a value for a one-line message, cut short."""
    return clip(repr(value), limit)


def clip(text: str, limit: int = 300) -> str:
    """A message on one line, cut short."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_positive_number(value: Any, source: str, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise StudyFileError(source, key, f"must be a positive number of seconds, got {short_repr(value)}")


def plain(value: Any) -> Any:
    """Numbers and containers as plain Python (numpy scalars are not JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(name: Any) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (so a message stays one line)."""
    name = str(name)
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


def search_key(name: str) -> str:
    """``search.<name>`` as TOML writes it, the layer of a per-layer parameter quoted when it must be."""
    layered = split_layer_key(name)
    return f"search.{layered[0]}.{toml_key(layered[1])}" if layered else f"search.{toml_key(name)}"
