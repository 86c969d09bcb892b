"""Where trials live: an Optuna journal file in the results folder (no server) or any Optuna RDB URL
(``postgresql://...``, shared by several machines), and the repair of what a killed writer leaves in
a journal."""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import time
import warnings
from pathlib import Path

from dse.atomic import write_bytes_atomic
from dse.study.folder import JOURNAL_FILE
from dse.study.spec import clip

# RDB storage: a running trial records a heartbeat every 60 s; one silent for 180 s (its worker or
# machine died) is failed by the next worker or run that starts a trial, and replaced.
HEARTBEAT_S: tuple[int, int] = (60, 180)


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
        try:
            return JournalStorage(JournalFileBackend(str(journal)))  # replays every entry: damage shows here
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:  # json's, or a mangled entry
            raise DamagedJournalError(journal, " ".join(f"{type(exc).__name__}: {exc}".split())[:200]) from None
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
        raise StorageError(f"--storage {redact(url)}: cannot open the database: {clip(first, 300)}") from None


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


class DamagedJournalError(StorageError):
    """A journal file Optuna cannot read (a write cut short in its middle, flipped bytes): ``dse run``
    salvages it when no other run uses it; every other command leaves it as it is."""

    def __init__(self, journal: Path, why: str):
        self.journal, self.why = Path(journal), why
        super().__init__(f"{journal}: damaged, Optuna cannot read it ({why}); it is left as it is: the next `dse run` "
                         f"of its study salvages it (every complete entry kept, the original as "
                         f"{Path(journal).name}.damaged-<time>)")


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
        notes.append(f"removed {lock}, left by a killed process")
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
                notes.append(f"completed the last entry of {path} (its line break was cut)")
            elif not _holds_an_entry(f, end):  # nothing would remain: never turn a damaged study into a new one
                raise _no_entry(path, size)
            else:
                cut = path.with_name(f"{path.name}.cut-{time.strftime('%Y%m%d-%H%M%S')}")
                write_bytes_atomic(cut, tail)  # the dropped bytes are kept, never lost
                f.truncate(end)
                notes.append(f"dropped an unfinished entry ({size - end} bytes, what a killed writer leaves) at "
                             f"the end of {path} (kept as {cut.name} beside it)")
            f.flush()
            os.fsync(f.fileno())
    return notes


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _no_entry(path: Path, size: int) -> StorageError:
    return StorageError(f"{path}: holds no complete journal entry ({size} bytes), so it cannot be repaired; it is "
                        "left as it is: restore it from a copy, or move it away to start the study afresh")


def _holds_an_entry(f, end: int) -> bool:
    """Whether the first ``end`` bytes of the open file ``f`` hold one whole line that is a JSON object
    (reads up to the first such line: the journal's first entry, as a rule)."""
    f.seek(0)
    while f.tell() < end:
        line = f.readline(end - f.tell())
        if line.endswith(b"\n") and _journal_entries(line):
            return True
    return False


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
        if _journal_entries(line):  # every Optuna entry is a JSON object
            kept.append(line)
            continue
        text, pos = line.decode("utf-8", "replace"), 0
        while pos < len(text):
            try:
                entry, pos = decoder.raw_decode(text, pos)
                if not isinstance(entry, dict):
                    raise ValueError("not an entry")
                kept.append(json.dumps(entry, separators=(",", ":")).encode())
            except ValueError:
                dropped += 1
                pos = text.find('{"op_code"', pos + 1)
                if pos < 0:
                    break
    if not kept:  # garbage throughout: refused, left as it is (a salvage would leave an empty study)
        raise _no_entry(path, path.stat().st_size)
    backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    os.link(path, backup) if not backup.exists() else None
    write_bytes_atomic(path, b"".join(entry + b"\n" for entry in kept))
    return (f"salvaged {path}: dropped {dropped} damaged entr{'y' if dropped == 1 else 'ies'}, kept {len(kept)} "
            f"(the original is kept as {backup.name} beside it)")


def open_checked_storage(storage: str | None, out: Path, owns_journal: bool, notes: list[str]):
    """open_storage, salvaging a journal damaged in its middle when no other process writes it."""
    try:
        return open_storage(storage, out)
    except DamagedJournalError as exc:
        if not owns_journal:
            raise StorageError(f"{exc.journal}: damaged, Optuna cannot read it ({exc.why}); another `dse run` uses "
                               "it, so it is left as it is: the next `dse run` that finds no other one using it "
                               f"salvages it (every complete entry kept, the original as "
                               f"{exc.journal.name}.damaged-<time>)") from None
        notes.append(salvage_journal(exc.journal))
    try:
        return open_storage(storage, out)
    except DamagedJournalError as exc:  # complete lines, but entries Optuna cannot replay
        raise StorageError(f"{exc.journal}: still unreadable after keeping its complete entries ({exc.why}); "
                           f"{notes[-1]}; restore the journal from a copy") from None


def storage_name(storage) -> str:
    url = getattr(storage, "url", None)
    if url:
        return redact(str(url))
    backend = getattr(storage, "_backend", None)
    return str(getattr(backend, "_file_path", "the storage"))
