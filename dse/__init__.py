"""reram-dse: design-space exploration of fault-tolerant ReRAM compute-in-memory accelerators.

The Python API (docs/api.md): ``dse.load_study``, ``dse.run_study``, ``dse.read_results``,
``dse.evaluate`` and ``dse.estimate_cost`` (module :mod:`dse.api`), and the configs ``dse.HardwareConfig``,
``dse.FaultScenario``, ``dse.Protection``, ``dse.AnalogEffects``. They load on first use, so ``import dse``
(and the ``dse`` command's ``--help``) stays fast.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reram-dse")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

_API = {
    "load_study": "dse.api", "run_study": "dse.api", "read_results": "dse.api", "evaluate": "dse.api",
    "estimate_cost": "dse.api", "StudyResults": "dse.api",
    "HardwareConfig": "dse.config", "FaultScenario": "dse.config", "Protection": "dse.config",
    "AnalogEffects": "dse.config",
}
__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str):
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dse' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
