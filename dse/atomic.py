"""Writing a file so that readers only ever see the old or the new complete file.

The bytes go to a dot-named temporary file beside the target (dataset discovery and globbing for
results skip dot files), are fsynced, and the temporary file is renamed over the target: a process
killed at any point leaves the old file intact and at worst a stray ``.NAME.*.tmp``.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, BinaryIO


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Create or replace ``path`` with what ``write(handle)`` writes to a binary file handle."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # the new bytes are on disk before the new name is
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda handle: handle.write(data))


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))
