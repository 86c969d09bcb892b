"""What a study's numbers depend on beyond its file, by content: part of its identity, checked on resume.

A study file names its technology table, its workload and its data; the numbers of a trial also depend on
what those files and the simulator hold at the time. :func:`provenance` hashes each of them:

- ``simulator``: the package version plus a hash of every module that computes results (the kernels,
  mapping, simulation, protection, cost model and its tables, workloads, the objective): an edit to any of
  them is a new simulator, whatever the version says;
- ``workload``: the trained weights and the data the trials use (a built-in by the weights it trains or
  loads from its cache, a model file by its content, with the test split);
- ``tech``: each technology table the study uses (fixed or searched), by its parsed content.

Resuming a study whose provenance differs is refused before any work (``dse.study.run``); every row
of the trials table carries the ``simulator`` fingerprint.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from dse import __version__

_ROOT = Path(__file__).resolve().parents[2]
# Modules whose code decides a trial's numbers, relative to the repository root (a missing one is skipped,
# so a rename keeps working; the new name is added here).
SIMULATOR_SOURCES = ("kernels/**/*.py", "dse/config.py", "dse/analog.py", "dse/chip_faults.py", "dse/layout.py",
                     "dse/mapping.py", "dse/mapping/**/*.py", "dse/simulate.py", "dse/simulate/**/*.py",
                     "dse/tolerance/**/*.py", "dse/protection/**/*.py", "dse/cost/**/*.py", "dse/tech/*.toml",
                     "dse/workloads/**/*.py", "dse/study/objective.py")
DIGEST_CHARS = 16  # of a sha256 in hex: enough to tell two versions apart, short enough to read


@functools.lru_cache(maxsize=1)
def simulator_fingerprint() -> str:
    """``<package version>+<hash of SIMULATOR_SOURCES>``, e.g. ``0.1.0+3f2a9c1d0b7e4a55``."""
    digest = hashlib.sha256()
    files = sorted({p for pattern in SIMULATOR_SOURCES for p in _ROOT.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(str(path.relative_to(_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{__version__}+{digest.hexdigest()[:DIGEST_CHARS]}"


def _update(digest, value: Any) -> None:
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes() if value.dtype != object else repr(value.tolist()).encode())
    else:
        digest.update(json.dumps(value, sort_keys=True, default=repr).encode())


def workload_digest(workload) -> str:
    """Hash of a loaded Workload's weights (every layer's configuration and parameters) and its splits."""
    digest = hashlib.sha256()
    for layer in workload.layers:
        _update(digest, layer.config())
        for key in sorted(layer.params):
            digest.update(key.encode())
            _update(digest, np.asarray(layer.params[key]))
    for split in ("x_train", "y_train", "x_calib", "y_calib", "x_test", "y_test"):
        value = getattr(workload, split, None)
        _update(digest, value if isinstance(value, np.ndarray) else np.asarray(value, dtype=object)
                if value is not None else None)
    return digest.hexdigest()[:DIGEST_CHARS]


def tech_digest(tech: str) -> str:
    """Hash of a technology table's content (a preset under dse/tech/ or a .toml file)."""
    from dse.cost import load_tech

    tables = load_tech(tech).tables
    return hashlib.sha256(json.dumps(tables, sort_keys=True, default=repr).encode()).hexdigest()[:DIGEST_CHARS]


def provenance(spec) -> dict[str, Any]:
    """``{"simulator": ..., "workload": ..., "tech": {ref: digest}}`` of a StudySpec (loads its workload)."""
    from dse.config import HardwareConfig
    from dse.study.objective import load_design_workload
    from dse.study.spec import tech_name

    techs = [spec.hardware.get("tech", HardwareConfig.tech)]
    techs += [v for p in spec.search if p.name == "tech" for v in p.grid()]
    return {"simulator": simulator_fingerprint(),
            "workload": workload_digest(load_design_workload(spec.workload_ref, spec.data_path)),
            "tech": {str(tech_name(t)): tech_digest(t) for t in dict.fromkeys(techs)}}


def describe_change(path: str, old: Any, new: Any, spec) -> str | None:
    """What changed, in words, for an owner difference under ``provenance`` (None for other paths)."""
    parts = path.split(".", 2)
    if parts[0] != "provenance":
        return None
    if path == "provenance" or old is None:
        return ("its trials were run before dse recorded what they depend on (simulator, weights, tech tables), "
                "so they cannot be shown to match this run")
    if parts[1] == "tech":
        from dse.study.spec import tech_name

        ref = parts[2] if len(parts) > 2 else "?"
        used = [spec.hardware.get("tech")] + [v for p in spec.search if p.name == "tech" for v in p.grid()]
        ref = next((t for t in used if isinstance(t, str) and tech_name(t) == ref), ref)  # the file's full path
        return (f"the tech table {ref} changed since its trials were costed (content sha256 {old} then, {new} "
                "now)")
    if parts[1] == "workload":
        return (f"the weights or data of workload {spec.workload} changed since its trials ran (sha256 {old} "
                f"then, {new} now)")
    if parts[1] == "simulator":
        return (f"the simulator changed since its trials ran (dse {old} then, {new} now: the code that "
                "computes results differs)")
    return f"{path} changed ({old} then, {new} now)"
