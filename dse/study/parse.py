"""The study-file parser: TOML text to a validated :class:`~dse.study.spec.StudySpec`.

Every problem is a :class:`~dse.study.spec.StudyFileError` naming the file and the key, raised before
any trial runs. The schema is documented in ``docs/studies.md``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import math
import re
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dse.config import PER_LAYER_FIELDS, AnalogEffects, FaultScenario, HardwareConfig, Protection, field_type, layer_key
from dse.hypervolume import default_ideal
from dse.study.objective import METRIC_RANGES, METRICS, workload_metrics
from dse.study.samplers import SAMPLER_OPTIONS, SAMPLERS, option_problem
from dse.study.candidates import check_allowed, check_candidates
from dse.study.files import builtin_data, existing_file, tech_path
from dse.study.spec import (SEARCHABLE, Choice, Constraint, Objective, Param, Range, SamplerSpec, Scenario, StudyFileError,
                            StudySpec, check_positive_int, check_positive_number, clip, param_class, search_key, short_repr, toml_key)
from dse.workloads.workload import WorkloadInfo

DIRECTIONS = ("maximize", "minimize")
CONSTRAINT_OPS = (">=", "<=")
DEFAULT_OBJECTIVES = (("accuracy_mean", "maximize"), ("energy_pj", "minimize"), ("area_mm2", "minimize"))

SECTIONS = ("study", "sampler", "hardware", "protection", "faults", "search", "objectives", "constraints",
            "hypervolume")
STUDY_KEYS = ("name", "workload", "data", "max_test", "trials", "timeout_s", "description")
MODEL_SUFFIXES = (".npz", ".safetensors")  # a study's own model file (dse.workloads.model_file)
MAX_CHOICES = 1000          # values in one searched list
MAX_GRID_POINTS = 100_000   # points of a grid search (Optuna's grid sampler lists them all)
MAX_SEED = 2**32 - 1        # Optuna's samplers take 32-bit seeds
FAULT_KEYS = tuple(f.name for f in dataclasses.fields(FaultScenario))
ANALOG_KEYS = tuple(f.name for f in dataclasses.fields(AnalogEffects))
SCENARIO_KEYS = ("name",) + FAULT_KEYS + ANALOG_KEYS


_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
        raise StudyFileError(source, "study.name", f"{short_repr(name)} is not usable as a folder name; use "
                             "up to 200 letters, digits, '_', '-' and '.', starting with a letter or digit")
    workload = study.get("workload")
    model_path, data_path, model_digest, info = _parse_workload(study, source, base_dir)
    trials = study.get("trials", 20)
    check_positive_int(trials, source, "study.trials")
    timeout_s = study.get("timeout_s")
    if timeout_s is not None:
        check_positive_number(timeout_s, source, "study.timeout_s")
    max_test = study.get("max_test")
    if max_test is not None:  # bounds the test examples per chip: a trial of known cost
        check_positive_int(max_test, source, "study.max_test")
    description = study.get("description", "")
    if not isinstance(description, str):
        raise StudyFileError(source, "study.description", f"must be text, got {short_repr(description)}")

    hardware = _table(data, "hardware", source)
    protection = _table(data, "protection", source)
    for section, cls in (("hardware", HardwareConfig), ("protection", Protection)):
        allowed = [f.name for f in dataclasses.fields(cls)]
        _check_keys(data.get(section, {}), allowed, source, section)
    _check_fixed_layers(protection, source)
    _check_layer_names(protection, _table(data, "search", source), info, workload, source)
    search = _parse_search(data, hardware, protection, source)
    # tech files, like the workload and data, are relative to the study file, not to the working directory
    if "tech" in hardware:
        hardware = {**hardware, "tech": tech_path(hardware["tech"], base_dir)}
    search = [Choice(p.name, tuple(tech_path(v, base_dir) for v in p.values))
              if p.name == "tech" and isinstance(p, Choice) else p for p in search]
    for section, cls, fixed in (("hardware", HardwareConfig, hardware), ("protection", Protection, protection)):
        check_allowed(cls, section, fixed, [p for p in search if param_class(p.name) is cls], source)
        check_candidates(cls, section, fixed, [p for p in search if param_class(p.name) is cls], source)

    sampler = _parse_sampler(data, source)
    if sampler.name == "grid":
        for p in search:
            if isinstance(p, Range) and not p.integer and p.step is None:
                raise StudyFileError(source, search_key(p.name), "the grid sampler needs a list of "
                                     "values or a range with a step")
    if not search:
        raise StudyFileError(source, "search", "the search space is empty; add at least one parameter, "
                             f"allowed: {', '.join(SEARCHABLE)}")
    if sampler.name == "grid":
        points = math.prod(p.grid_size() for p in search)
        if points > MAX_GRID_POINTS:
            raise StudyFileError(source, "search", f"the grid has {points} points, more than "
                                 f"{MAX_GRID_POINTS}; use fewer values or larger steps, or another sampler")

    metrics = _allowed_metrics(info, workload, source)
    objectives = _parse_objectives(data, source, metrics)
    hv_ideal, hv_reference = _parse_hypervolume(data, source, objectives)
    return StudySpec(
        name=name, workload=workload, hardware=dict(hardware), protection=dict(protection),
        scenarios=_parse_scenarios(data, source), search=tuple(search),
        objectives=objectives, constraints=_parse_constraints(data, source, metrics),
        hypervolume_ideal=hv_ideal, hypervolume_reference=hv_reference,
        sampler=sampler, trials=trials, timeout_s=None if timeout_s is None else float(timeout_s),
        description=description, source=source, text=text,
        model_path=model_path, data_path=data_path, model_digest=model_digest, info=info, max_test=max_test,
    )


def _allowed_metrics(info: WorkloadInfo, workload: str, source: str) -> tuple[str, tuple[str, ...]]:
    """(how to name the list in a message, every metric an objective or constraint may name): the
    numbers every trial reports and the workload's own (``<name>_mean``, ``ideal_<name>``), which may not
    take the name of a column of the trials table or of another metric."""
    from dse.study.results import column_clash

    own = workload_metrics(info.metrics)
    label = Path(workload).name if str(workload).endswith(MODEL_SUFFIXES) else workload
    seen: set[str] = set()
    for name in info.metrics:
        for reported in workload_metrics([name]):  # <name>_mean and ideal_<name>
            what = ("a metric every trial reports" if reported in METRICS else
                    "reported for another of its own metrics" if reported in seen else column_clash(reported))
            seen.add(reported)
            if what:  # evaluate_design would overwrite it with the workload's number
                raise StudyFileError(source, "study.workload", f"{label} declares its own metric {name!r}, "
                                     f"reported as {reported}, which is {what}; allowed: own metric names "
                                     f"whose {name}_mean and ideal_{name} are neither columns of the trials "
                                     f"table nor {', '.join(METRICS)}")
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
                                 f"got {short_repr(value)}")


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

    given = [(f"{section}.{name}.{toml_key(layer)}", name, layer)
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
            problem = f"{short_repr(layer)} is not a layer of {label}"
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
        from dse.workloads.builtin import takes_data, workload_info

        if data is not None:
            if not takes_data(workload):
                raise StudyFileError(source, "study.data", f"only for a model file or a text workload; "
                                     f"{short_repr(workload)} is a built-in workload with its own data")
            return (None, *builtin_data(workload, data, source, base_dir), workload_info(workload))
        return None, None, "", workload_info(workload)
    if workload is None:
        raise StudyFileError(source, "study.workload", f"missing; {allowed}")
    if not isinstance(workload, str) or not workload.endswith(MODEL_SUFFIXES):
        raise StudyFileError(source, "study.workload", f"{short_repr(workload)} is not a built-in workload; {allowed}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    model = existing_file(base, workload, source, "study.workload", "model file")
    if data is None:
        raise StudyFileError(source, "study.data", f"missing; the model file {workload} needs data = "
                             '"path/data.npz" (arrays x and y, relative to the study file)')
    if not isinstance(data, str) or not data.endswith(".npz"):
        raise StudyFileError(source, "study.data", f"must be the path of an .npz file holding arrays x "
                             f"and y, got {short_repr(data)}")
    data_file = existing_file(base, data, source, "study.data", "data file")
    try:  # the loader would let some damage through as a raw error
        with np.load(data_file, allow_pickle=False) as arrays:
            missing = [key for key in ("x", "y") if key not in getattr(arrays, "files", ())]
            if missing:
                raise ValueError(f"lacks array(s) {', '.join(missing)}; it must hold x and y")
            for key in ("x", "y"):
                arrays[key]  # reads (and checks) the array
    except Exception as exc:  # noqa: BLE001 - a user's file: report it
        problem = str(exc) if isinstance(exc, ValueError) and str(exc).startswith("lacks") else \
            f"not a readable .npz file holding arrays x and y ({type(exc).__name__}: {clip(str(exc), 200)})"
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


def _table(data: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise StudyFileError(source, key, f"must be a table ([{key}]), got {type(value).__name__}")
    return value


def _check_keys(table: dict[str, Any], allowed, source: str, section: str) -> None:
    for key in table:
        if key not in allowed:
            where = f"{section}.{toml_key(key)}" if section else toml_key(key)
            raise StudyFileError(source, where, f"unknown key; allowed: {', '.join(allowed)}")


def _parse_search(data, hardware, protection, source) -> list[Param]:
    params: list[Param] = []
    for name, value in _table(data, "search", source).items():
        key = f"search.{toml_key(name)}"
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
    raise StudyFileError(source, search_key(name), "must be a list of values ([1, 2, 4]) or a range "
                         f"({{ low = 0.0, high = 0.5 }}, optional step and log), got {short_repr(value)}")


def _parse_per_layer(name: str, table: Any, protection: dict[str, Any], source: str) -> list[Param]:
    """``[search.row_prune_layers]`` (or ``row_prune_layers.fc1 = ...`` in [search]): one parameter per
    layer, ``row_prune_layers.<layer>``, each a list or a range like any float parameter."""
    usage = (f"a table of layers, each a list or a range: {name}.fc1 = {{ low = 0.0, high = 0.5, step = 0.05 }} "
             f"(one fraction for every layer: {PER_LAYER_FIELDS[name]})")
    if not isinstance(table, dict) or not table or not all(isinstance(v, (list, dict)) for v in table.values()):
        raise StudyFileError(source, f"search.{name}", f"must be {usage}, got {short_repr(table)}")
    params = []
    for layer, value in table.items():
        param = layer_key(name, layer)
        if layer in protection.get(name, {}):
            raise StudyFileError(source, search_key(param), "also fixed in [protection]; keep one of the two")
        params.append(_parse_param(param, value, source))
    return params


def _typed(value: Any, kind: type) -> Any:
    """``value`` as a ``kind`` (int, float, str or bool), or raise TypeError."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if type(value) is kind:
        return value
    raise TypeError(f"expected {kind.__name__}, got {short_repr(value)}")


def _parse_choice(name: str, values: list, kind: type, source: str) -> Choice:
    key = search_key(name)
    if not values:
        raise StudyFileError(source, key, "the list of values is empty")
    if len(values) > MAX_CHOICES:
        raise StudyFileError(source, key, f"{len(values)} values; at most {MAX_CHOICES} (use a range)")
    try:
        typed = tuple(_typed(v, kind) for v in values)
    except TypeError as exc:
        raise StudyFileError(source, key, f"{exc} ({name} takes {kind.__name__} values)") from None
    if len(set(typed)) != len(typed):
        raise StudyFileError(source, key, f"the list repeats a value: {short_repr(list(values))}")
    return Choice(name, typed)


def _parse_range(name: str, spec: dict, kind: type, source: str) -> Range:
    key = search_key(name)
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
        raise StudyFileError(source, key, f"{clip(str(exc), 120)} ({name} is "
                             f"{'an integer' if integer else 'a number'})") from None
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise StudyFileError(source, f"{key}.log", f"must be true or false, got {short_repr(log)}")
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
    if step is not None:  # Optuna would silently move high to the last step below it
        steps = (high - low) / step
        if abs(steps - round(steps)) > 1e-9 * max(1.0, steps):
            last = low + math.floor(steps + 1e-9) * step
            raise StudyFileError(source, f"{key}.step", f"{step:g} does not divide high - low = {high - low:g}; "
                                 f"use a step that does, or high = {last:g} (the last value it reaches)")
    return Range(name, low, high, step, log, integer)


def _parse_sampler(data, source) -> SamplerSpec:
    table = _table(data, "sampler", source)
    name = table.get("name", "nsga2")
    if name not in SAMPLERS:
        raise StudyFileError(source, "sampler.name", f"{short_repr(name)} is not a sampler; allowed: {', '.join(SAMPLERS)}")
    if name == "gp" and importlib.util.find_spec("torch") is None:
        raise StudyFileError(source, "sampler.name", "the gp sampler needs PyTorch (pip install torch); "
                             f"allowed without it: {', '.join(s for s in SAMPLERS if s != 'gp')}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise StudyFileError(source, "sampler.seed", f"must be an integer in 0..{MAX_SEED}, got {short_repr(seed)}")
    allowed = SAMPLER_OPTIONS[name]
    _check_keys(table, ("name", "seed", *allowed), source, "sampler")
    options = []
    for key, value in table.items():
        if key in allowed:
            try:
                value = _typed(value, allowed[key])
            except TypeError as exc:
                raise StudyFileError(source, f"sampler.{key}", clip(str(exc), 120)) from None
            problem = option_problem(key, value)
            if problem:
                raise StudyFileError(source, f"sampler.{key}", f"{problem}, got {short_repr(value)}")
            options.append((key, value))
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
            raise StudyFileError(source, where, f"must be a table, got {short_repr(table)}")
        _check_keys(table, SCENARIO_KEYS, source, where)
        name = table.get("name", "default" if len(tables) == 1 else None)
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise StudyFileError(source, f"{where}.name", "each of several scenarios needs a name "
                                 f"(letters, digits, '_', '-', '.'), got {short_repr(name)}")
        try:
            faults = FaultScenario(**{k: v for k, v in table.items() if k in FAULT_KEYS})
            analog = AnalogEffects(**{k: v for k, v in table.items() if k in ANALOG_KEYS})
            scenarios.append(Scenario(name, faults, analog))
        except (ValueError, TypeError) as exc:
            field = re.match(r"\w*", str(exc)).group(0)
            raise StudyFileError(source, f"{where}.{field}" if field in table else where, clip(str(exc), 300)) from None
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise StudyFileError(source, "faults", f"scenario names must differ, got {names}")
    return tuple(scenarios)


def _not_a_metric(name) -> str:
    """Why an objective or constraint may not name ``name``: a column of the trials table that is not a
    metric is named as such (``seed`` is the FaultScenario field), anything else is simply no metric."""
    from dse.study.results import column_clash

    what = column_clash(name) if isinstance(name, str) else None
    return f"{short_repr(name)} is {what}, not a metric" if what else "not a metric"


def _parse_objectives(data, source, metrics: tuple[str, tuple[str, ...]] = ("", METRICS)) -> tuple[Objective, ...]:
    table = _table(data, "objectives", source)
    if "objectives" in data and not table:  # an empty table is a mistake, not a request for the defaults
        raise StudyFileError(source, "objectives", "the table is empty; give at least one metric = "
                             "\"maximize\" or \"minimize\", or leave [objectives] out for the defaults ("
                             + ", ".join(f"{d} {m}" for m, d in DEFAULT_OBJECTIVES) + ")")
    table = table or dict(DEFAULT_OBJECTIVES)
    objectives = []
    allowed_text, allowed = metrics
    for metric, direction in table.items():
        if metric not in allowed:
            raise StudyFileError(source, f"objectives.{toml_key(metric)}",
                                 f"{_not_a_metric(metric)}; allowed: {allowed_text or ', '.join(allowed)}")
        if direction not in DIRECTIONS:
            raise StudyFileError(source, f"objectives.{metric}", f"direction {short_repr(direction)}; allowed: "
                                 f"{', '.join(DIRECTIONS)}")
        objectives.append(Objective(metric, direction))
    return tuple(objectives)


def _parse_hypervolume(data, source, objectives: tuple[Objective, ...]):
    """``[hypervolume]``: optional ``ideal`` and ``reference`` tables, one number per objective."""
    table = _table(data, "hypervolume", source)
    _check_keys(table, ("ideal", "reference"), source, "hypervolume")
    names = [o.metric for o in objectives]
    example = "{ " + ", ".join(f"{m} = ..." for m in names) + " }"
    box = {}
    for key in ("ideal", "reference"):
        values = table.get(key)
        if values is None:
            box[key] = None
            continue
        if not isinstance(values, dict) or set(values) != set(names):
            raise StudyFileError(source, f"hypervolume.{key}", f"give one number per objective, {example}")
        for metric in names:
            value = values[metric]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise StudyFileError(source, f"hypervolume.{key}.{metric}", f"must be a finite number, got "
                                     f"{short_repr(value)}")
        box[key] = tuple(float(values[m]) for m in names)
    ideal = box["ideal"] or tuple(default_ideal([o.direction for o in objectives]))
    if box["reference"] is not None:
        for objective, best, worst in zip(objectives, ideal, box["reference"]):
            if not (worst < best if objective.direction == "maximize" else worst > best):
                raise StudyFileError(source, f"hypervolume.reference.{objective.metric}",
                                     f"must be worse than the ideal {best:g} for a {objective.direction}d "
                                     f"objective, got {worst:g}")
    return box["ideal"], box["reference"]


def _parse_constraints(data, source, metrics: tuple[str, tuple[str, ...]] = ("", METRICS)) -> tuple[Constraint, ...]:
    constraints = []
    allowed_text, allowed = metrics
    for metric, text in _table(data, "constraints", source).items():
        key = f"constraints.{toml_key(metric)}"
        if metric not in allowed:
            raise StudyFileError(source, key, f"{_not_a_metric(metric)}; allowed: {allowed_text or ', '.join(allowed)}")
        match = re.fullmatch(r"\s*(>=|<=)\s*(\S+)\s*", text) if isinstance(text, str) else None
        try:
            bound = float(match.group(2)) if match else math.nan
        except ValueError:
            bound = math.nan
        if not math.isfinite(bound):
            raise StudyFileError(source, key, f"write a bound like \">= 0.9\" or \"<= 1e5\" "
                                 f"(operators: {', '.join(CONSTRAINT_OPS)}), got {short_repr(text)}")
        low, high = METRIC_RANGES.get(metric, (-math.inf, math.inf))
        op = match.group(1)
        if (op == ">=" and bound > high) or (op == "<=" and bound < low):
            raise StudyFileError(source, key, f"{op} {bound:g} can never be met: {metric} is in "
                                 f"[{low:g}, {high:g}]; no design would be feasible")
        constraints.append(Constraint(metric, op, bound))
    return tuple(constraints)
