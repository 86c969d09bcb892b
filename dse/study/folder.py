"""The results folder ``results/<study>/``: every file name in it, and the locks that decide who writes it.

Layout (everything but the trials table starts with ``_`` so that ``pandas.read_parquet("results/<study>")``
reads exactly the trials table)::

    trials.parquet          one row per completed trial (columns: dse.study.schema, docs/studies.md)
    _layers/layers.parquet  one row per layer per completed trial
    _study.toml             the study file as it was last run, its file paths pointing into _inputs/
    _inputs/<sha256>/<name> copies of the model, data and tech files it names (``dse run _study.toml`` reruns it)
    _optuna.journal         the Optuna storage (unless --storage named another)
    _pareto.png             what ``dse pareto`` draws by default
    _run.lock               held by the one ``dse run`` using the folder
    _writers.lock           held shared by every process writing the folder
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path

TRIALS_FILE = "trials.parquet"
LAYERS_DIR = "_layers"
LAYERS_FILE = f"{LAYERS_DIR}/layers.parquet"
STUDY_COPY = "_study.toml"
INPUTS_DIR = "_inputs"
PARETO_FILE = "_pareto.png"
RUN_LOCK = "_run.lock"
JOURNAL_FILE = "_optuna.journal"
WRITERS_LOCK = "_writers.lock"  # every process writing a results folder holds it shared
WRITERS_WAIT_S = 30.0  # how long a run waits for the processes of a killed run to exit


def journal_writers_lock(journal: Path) -> Path:
    """The lock every process writing a journal file outside the results folder holds shared (other
    runs may share that journal; the one holding it exclusively may repair it)."""
    return journal.with_name(f"{journal.name}.writers.lock")


class ResultsFolderError(ValueError):
    """The results folder cannot be used: another study owns it, it is not writable, the disk is full."""


def remove_temp_files(out: Path) -> None:
    """Temporary files of writes a killed process never finished (dot-named, so readers skip them)."""
    for pattern in (".*.tmp", f"{LAYERS_DIR}/.*.tmp"):
        for leftover in out.glob(pattern):
            leftover.unlink(missing_ok=True)


# ---- who writes a results folder --------------------------------------------------------------------

def open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def lock_exclusive(fd: int, wait_s: float) -> bool:
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


def hold_shared(paths: tuple[Path, ...]) -> None:
    for path in paths:
        fd = open_lock(path)
        fcntl.flock(fd, fcntl.LOCK_SH)
        _HELD_LOCKS.append(fd)

_DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                errno.EPERM: "operation not permitted"}


def disk_problem(exc: BaseException) -> str | None:
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


@contextlib.contextmanager
def run_lock(out: Path):
    """One ``dse run`` at a time per results folder (use --workers for parallel trials)."""
    fd = open_lock(out / RUN_LOCK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
        except BlockingIOError:
            raise ValueError(f"another `dse run` is using {out}; wait for it, or add processes with "
                             "--workers instead") from None
        yield
    finally:
        os.close(fd)
