"""The run loop: :func:`run_study` runs (or resumes) every scenario of a study up to its trial budget,
with one or more worker processes, and has :mod:`dse.study.results` rewrite the Parquet tables from the
storage (the source of truth)."""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
import tomllib
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dse.atomic import write_bytes_atomic
from dse.study import results as tables
from dse.study import storage as storages
from dse.study.folder import (INPUTS_DIR, JOURNAL_FILE, LAYERS_DIR, RUN_LOCK, STUDY_COPY, TRIALS_FILE, WRITERS_LOCK, WRITERS_WAIT_S,
                              ResultsFolderError, disk_problem, hold_shared, journal_writers_lock, lock_exclusive, open_lock,
                              remove_temp_files, run_lock)
from dse.study.objective import evaluate_design
from dse.study.provenance import describe_change, provenance
from dse.study.samplers import make_sampler
from dse.study.spec import Scenario, StudySpec, short_repr
from dse.study.storage import (describe_storage, journal_path, open_checked_storage, open_storage,
                               repair_journal, storage_name)
from dse.study.trial import ObjectiveFn, SurplusTrial, TrialFunction, check_declared_metrics

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


def _check_results_folder(out: Path, spec: StudySpec) -> None:
    """Refuse a folder another study owns, before anything is written there."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ResultsFolderError(f"{out}: exists and is not a folder; give this study another name or "
                                 "another --results folder")
    try:
        entries = set(os.listdir(out))
    except OSError as exc:
        raise ResultsFolderError(f"{out}: cannot read the results folder ({exc.strerror})") from None
    ours = {TRIALS_FILE, STUDY_COPY, JOURNAL_FILE, LAYERS_DIR, RUN_LOCK, WRITERS_LOCK, INPUTS_DIR}
    if entries and not entries & ours:
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise ResultsFolderError(f"{out}: holds files `dse run` did not write ({shown}); give this study "
                                 "another name ([study] name) or another --results folder")
    if TRIALS_FILE in entries:
        try:
            metadata = tables.read_metadata(out)
        except Exception:  # noqa: BLE001 - an unreadable table is regenerated from the storage
            return
        theirs = metadata.get("owner")
        if metadata.get("study", spec.name) != spec.name or (theirs is not None and theirs != tables.json_safe(spec.owner())):
            raise ResultsFolderError(_owned_message(str(out), metadata.get("study", "?"), theirs, spec))


def study_copy(spec: StudySpec, out: Path) -> str:
    """The text of ``out/_study.toml``: the study file, with every file it names (model, data, tech) copied
    to ``out/_inputs/<sha256>/<name>`` and its path pointing there, so that ``dse run out/_study.toml``
    reruns the study from the folder alone. The file's own text (comments and all) is kept; where a path
    cannot be rewritten safely it stays as written."""
    try:
        raw = tomllib.loads(spec.text)
    except tomllib.TOMLDecodeError:
        return spec.text
    study, hardware, search = (raw.get(k, {}) if isinstance(raw.get(k), dict) else {}
                               for k in ("study", "hardware", "search"))
    named = [(study.get("workload"), spec.model_path), (study.get("data"), spec.data_path),
             (hardware.get("tech"), spec.hardware.get("tech"))]
    choices = next((p.values for p in spec.search if p.name == "tech"), ())
    named += list(zip(search.get("tech", []) if isinstance(search.get("tech"), list) else [], choices))
    text = spec.text
    for written, resolved in named:
        if not isinstance(written, str) or not isinstance(resolved, str) or not Path(resolved).is_file():
            continue
        data = Path(resolved).read_bytes()
        copy = out / INPUTS_DIR / hashlib.sha256(data).hexdigest()[:16] / Path(resolved).name
        if not copy.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(copy, data)
        relative = copy.relative_to(out).as_posix()
        for quote in ('"', "'"):
            text = text.replace(f"{quote}{written}{quote}", json.dumps(relative))
    try:  # the rewritten text must still be the same study, with the new paths
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return spec.text
    return text


def _owned_message(where: str, study: str, theirs: dict | None, spec: StudySpec) -> str:
    path, old, new = _first_difference(tables.json_safe(theirs or {}), tables.json_safe(spec.owner()))
    changed = describe_change(path, old, new, spec) if study == spec.name else None
    if changed is not None:  # the same study, something it depends on changed: never mix the two
        return (f"{where}: {changed}; resuming would mix rows computed both ways. Restore it to resume, or run "
                "the changed study under another [study] name (or --results folder) to start a new one")
    detail = f": {path} is {short_repr(old)} there, {short_repr(new)} in {spec.source}" if path else ""
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
    heartbeat: tuple[int, int] = storages.HEARTBEAT_S
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
    # the first objective's best among feasible designs that need / do not need a tested fault map
    best_by_fault_map: dict[bool, float] = field(default_factory=dict)
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
            if s.best_by_fault_map:
                metric = next(iter(s.best))
                lines.append(f"    best {metric}: " + ", ".join(
                    f"{'needs a tested fault map' if needs else 'fault-map-free'} {value:.6g}"
                    for needs, value in sorted(s.best_by_fault_map.items())))
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
    (:func:`dse.study.objective.evaluate_design`); tests pass a fast one.

    A run killed at any moment (SIGKILL included) loses no completed trial: running the same
    command again repairs what the killed processes left, fails their unfinished trials and runs
    replacements, up to exactly the budget. Problems with the folder or the disk raise
    :class:`ResultsFolderError` (a ``ValueError``) with one line for the user.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers (--workers) must be a positive integer, got {workers!r}")
    objective = objective or evaluate_design
    check_declared_metrics(objective)
    out = Path(results) / spec.name
    if spec.provenance is None:  # the content hashes that make the study's identity (loads the workload)
        spec = dataclasses.replace(spec, provenance=provenance(spec))
    _check_results_folder(out, spec)
    try:
        return _run(spec, out, workers, storage, objective, progress)
    except OSError as exc:
        problem = disk_problem(exc)
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

    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _quiet_surplus_trials()
    journal = journal_path(storage, out)
    embedded = storage is None
    notes: list[str] = []
    fds: list[int] = []
    with run_lock(out):
        try:
            # No process of an earlier (killed) run may still write here: their leftovers are ours to clean.
            fds.append(open_lock(out / WRITERS_LOCK))
            if not lock_exclusive(fds[0], WRITERS_WAIT_S):
                raise ResultsFolderError(f"{out}: processes of an earlier `dse run` still write here; wait for "
                                         "them to finish (or stop them) and run again")
            remove_temp_files(out)
            locks = [out / WRITERS_LOCK]
            owns_journal = embedded  # only this run's processes can write the folder's own journal
            if journal is not None and not embedded:  # a journal file other runs may share
                locks.append(journal_writers_lock(journal))
                fds.append(open_lock(locks[-1]))
                owns_journal = lock_exclusive(fds[-1], 0.0)
                if not owns_journal:
                    fcntl.flock(fds[-1], fcntl.LOCK_SH)
            if owns_journal:
                notes += repair_journal(journal)
            store = open_checked_storage(storage, out, owns_journal, notes)
            _check_no_row_is_lost(spec, store, storage, out)
            studies = [_open_study(spec, scenario, store, owns=owns_journal, notes=notes)
                       for scenario in spec.scenarios]
            for fd in fds:  # let this run's workers in
                fcntl.flock(fd, fcntl.LOCK_SH)
            write_bytes_atomic(out / STUDY_COPY, study_copy(spec, out).encode())
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


class _SurplusFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "SurplusTrial" not in record.getMessage()


def _quiet_surplus_trials() -> None:
    """Optuna logs every failed trial; a trial beyond the budget is failed on purpose, silently."""
    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _SurplusFilter) for f in logger.filters):
        logger.addFilter(_SurplusFilter())


def _check_no_row_is_lost(spec: StudySpec, store, storage: str | None, out: Path) -> None:
    """Refuse to run, before anything is written to the storage, when the trials table holds rows whose
    trials the storage lacks (a journal deleted, emptied or cut short, another --storage): the run's
    export would drop those rows."""
    import optuna
    from optuna.trial import TrialState

    completed = {}
    for scenario in spec.scenarios:
        try:
            study = optuna.load_study(study_name=spec.optuna_name(scenario), storage=store)
        except KeyError:  # not in the storage (yet)
            completed[scenario.name] = set()
            continue
        completed[scenario.name] = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    missing = tables.rows_not_in_storage(out, completed)
    if missing:
        rows = "; ".join(f"scenario {name}: trial(s) {', '.join(map(str, numbers[:8]))}"
                         f"{', ...' if len(numbers) > 8 else ''}" for name, numbers in missing.items())
        raise storages.StorageError(
            f"{describe_storage(storage, out)}: lacks {sum(map(len, missing.values()))} completed trial(s) that "
            f"{out / TRIALS_FILE} holds ({rows}), so running would drop those rows; no trial was run: restore "
            f"the storage from a copy, or move {TRIALS_FILE} aside (it keeps the rows) and run again")


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
    names = [o.metric for o in spec.objectives]
    if study.metric_names != names:  # optuna-dashboard and study.trials_dataframe() label objectives by them
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, still in 5; nothing for users to do
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
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
    elif stale:  # RDB: trials whose worker stopped sending heartbeats (see storage.HEARTBEAT_S)
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
                  heartbeat=storages.HEARTBEAT_S, locks=locks if workers > 1 else (),
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

    if job.threads:  # share the cores between workers instead of every worker using them all
        from threadpoolctl import threadpool_limits

        os.environ["NUMBA_NUM_THREADS"] = str(job.threads)  # read when Numba is first imported
        threadpool_limits(job.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _quiet_surplus_trials()
    hold_shared(job.locks)
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
        first = spec.objectives[0]
        for needs, part in feasible.groupby("needs_fault_map"):
            column = part[first.metric]
            summary.best_by_fault_map[bool(needs)] = float(column.max() if first.direction == "maximize"
                                                          else column.min())
    invalid = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    summary.invalid = len(invalid)
    if invalid:
        summary.invalid_example = invalid[-1].user_attrs.get("invalid", "")


# --------------------------------------------------------------------------------------------------
