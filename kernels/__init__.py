"""Numeric kernels of the ReRAM crossbar simulator: arrays in, arrays out, no files, no studies.

The arithmetic contract is ``docs/crossbar.md``; :func:`crossbar_mvm` is its entry point and
:func:`crossbar_mvm_reference` the plain numpy version it is checked against.
"""
import hashlib
import importlib
import importlib.metadata
import os
import shutil
import sys
from pathlib import Path


def numba_cache_dir(directory: Path = Path(__file__).parent) -> Path:
    """Where the kernels' compiled code is cached: a folder named by a hash of every kernel module's
    source and the Numba version.

    Numba only checks the timestamp of a function's own file, so a kernel that inlines or calls a
    function from another module (``kernels.rng`` into ``kernels.analog``) would otherwise keep its
    stale compiled code after that module changes: any edit here starts a fresh cache instead.
    """
    digest = hashlib.sha256(importlib.metadata.version("numba").encode())  # numba.__version__, unimported
    for path in sorted(directory.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return directory / "__pycache__" / f"numba-{digest.hexdigest()[:16]}"


def _use_fresh_cache() -> None:
    """Point Numba's cache at :func:`numba_cache_dir` (unless NUMBA_CACHE_DIR is set) before any kernel is
    compiled. It has to happen on import: Numba fixes a kernel's cache folder when the kernel is defined.

    Caches of earlier sources are removed once, by the process that creates the new folder, not on
    every import (another process may still be reading them; their removal is best effort)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    cache = numba_cache_dir()
    if "numba" in sys.modules:  # imported already: its config has read the environment
        sys.modules["numba"].config.CACHE_DIR = str(cache)
    else:  # read when Numba is imported (by the first kernel module), and by worker processes alike
        os.environ["NUMBA_CACHE_DIR"] = str(cache)
    try:
        cache.mkdir(parents=True)
    except FileExistsError:
        return  # chosen before: its predecessors are already gone
    except OSError:
        return  # a read-only tree: Numba looks for another cache location itself
    for old in cache.parent.glob("numba-*"):
        if old != cache:
            shutil.rmtree(old, ignore_errors=True)


_use_fresh_cache()

# The public names, each imported from its module on first use (PEP 562): importing a light module such
# as kernels.names (what the configs validate against) does not load Numba and every kernel with it.
_EXPORTS = {
    "adc_codes": "adc", "calibrated_step": "adc", "full_range_step": "adc", "full_scale": "adc",
    "BitlineGroups": "bitlines", "plain_bitlines": "bitlines",
    "column_sum_histogram": "crossbar", "crossbar_mvm": "crossbar", "mvm_int": "crossbar",
    "mvm_packed": "crossbar", "pack_levels": "crossbar",
    "cycle_weights": "dac", "n_cycles": "dac", "pack_inputs": "dac",
    "SA0": "faults", "SA1": "faults", "apply_faults": "faults", "sample_faults": "faults",
    "activation_scale": "quantize", "quantize_activations": "quantize", "quantize_weights": "quantize",
    "weight_scale": "quantize",
    "crossbar_mvm_reference": "reference",
    "n_arrays": "slicing", "n_slices": "slicing", "slice_levels": "slicing",
    "VOTE_MODES": "vote",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"kernels.{_EXPORTS[name]}"), name)
    try:  # a submodule reached as an attribute (kernels.crossbar) after a bare ``import kernels``
        return importlib.import_module(f"kernels.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"kernels.{name}":
            raise
        raise AttributeError(f"module 'kernels' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
