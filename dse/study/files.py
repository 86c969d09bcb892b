"""The files a study file names (model, data, tech tables): found relative to the study file, checked
before any trial, every problem a :class:`~dse.study.spec.StudyFileError` naming the key and the file."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dse.study.spec import StudyFileError, clip, short_repr


def builtin_data(workload: str, data, source: str, base_dir) -> tuple[str, str]:
    """(path, sha256) of the JSON Lines test file of a text workload, every line checked now
    (``text_data.read_jsonl``), so a bad line is reported before any trial runs."""
    from dse.workloads.text_data import DataError, read_jsonl
    from dse.workloads.text_tasks import SPECS

    if not isinstance(data, str) or not data.endswith(".jsonl"):
        raise StudyFileError(source, "study.data", f"must be the path of a JSON Lines file (.jsonl) of labelled "
                             f"text, got {short_repr(data)}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    path = existing_file(base, data, source, "study.data", "data file")
    try:
        read_jsonl(path, SPECS[workload].task)
    except DataError as error:
        raise StudyFileError(source, "study.data", str(error)) from None
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def existing_file(base: Path, value: str, source: str, key: str, what: str) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        if path.is_file():
            return path.resolve()
    except OSError:
        pass
    raise StudyFileError(source, key, f"{what} {value} not found (looked for {path})")


def tech_path(tech: Any, base_dir) -> Any:
    """A tech ``.toml`` path relative to the study file's folder, made absolute; preset names as given."""
    if not isinstance(tech, str) or not tech.endswith(".toml"):
        return tech
    path = Path(tech).expanduser()
    return str(path if path.is_absolute() else (Path(base_dir) if base_dir is not None else Path.cwd()) / path)


def check_tech(tech: str, source: str, key: str) -> None:
    from dse.cost.tech import available_presets, load_tech

    try:
        load_tech(tech)
    except Exception as exc:  # noqa: BLE001 - a user's file: report, never raise from deep inside
        message = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, (FileNotFoundError, KeyError)) or "No such file" in message:
            message = f"{short_repr(tech)} is neither a preset ({', '.join(available_presets())}) nor a readable .toml file"
        elif not isinstance(exc, ValueError):
            message = f"{type(exc).__name__}: {message}"
        raise StudyFileError(source, key, clip(message, 400)) from None
