"""Numeric kernels of the ReRAM crossbar simulator: arrays in, arrays out, no files, no studies.

The arithmetic contract is ``docs/crossbar.md``; :func:`crossbar_mvm` is its entry point and
:func:`crossbar_mvm_reference` the plain numpy version it is checked against.
"""
import hashlib
import os
import shutil
from pathlib import Path

import numba


def numba_cache_dir(directory: Path = Path(__file__).parent) -> Path:
    """Where the kernels' compiled code is cached: a folder named by a hash of every kernel module's
    source and the Numba version.

    Numba only checks the timestamp of a function's own file, so a kernel that inlines or calls a
    function from another module (``kernels.rng`` into ``kernels.analog``) would otherwise keep its
    stale compiled code after that module changes: any edit here starts a fresh cache instead.
    """
    digest = hashlib.sha256(numba.__version__.encode())
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
    numba.config.CACHE_DIR = str(cache)
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

from kernels.adc import adc_codes, calibrated_step, full_range_step, full_scale  # noqa: E402
from kernels.bitlines import BitlineGroups, plain_bitlines
from kernels.crossbar import (
    column_sum_histogram,
    crossbar_mvm,
    mvm_int,
    mvm_packed,
    pack_levels,
)
from kernels.dac import cycle_weights, n_cycles, pack_inputs
from kernels.faults import SA0, SA1, apply_faults, sample_faults
from kernels.quantize import activation_scale, quantize_activations, quantize_weights, weight_scale
from kernels.reference import crossbar_mvm_reference
from kernels.slicing import n_arrays, n_slices, slice_levels
from kernels.vote import VOTE_MODES

__all__ = [
    "BitlineGroups", "SA0", "SA1", "VOTE_MODES", "activation_scale", "adc_codes", "apply_faults",
    "calibrated_step", "column_sum_histogram", "crossbar_mvm", "crossbar_mvm_reference", "cycle_weights",
    "full_range_step", "full_scale", "mvm_int", "mvm_packed", "n_arrays", "n_cycles", "n_slices", "pack_inputs",
    "pack_levels", "plain_bitlines", "quantize_activations", "quantize_weights", "sample_faults",
    "slice_levels", "weight_scale",
]
