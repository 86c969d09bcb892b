"""The crossbar contract on an NVIDIA GPU through Numba's CUDA target: the same integers, bit for bit.

What runs on the device: the integer popcount path of :func:`kernels.crossbar.mvm_packed` for every tile
(:mod:`kernels.cuda.mvm`: column sums by ``popc`` on the packed planes, the ADC with power-of-two and
calibrated steps, saturation counts, cycle weights) and the digital combine (every vote mode, weight-flip
correction, shift and add in float64 in the CPU kernel's order); the exact lossless path of
:mod:`kernels.exact` (:mod:`kernels.cuda.exact`). What stays on the host: packing inputs and cells into bit
planes, fault sampling, a chip's effective weights for the exact path, the offset mapping's digital
correction, the calibration histogram, the float analog path and every digital layer between crossbars.

Importing this package does not import ``numba.cuda``; :func:`require_cuda` checks, once, that a CUDA
target (the ``numba-cuda`` package, or the one still built into Numba) and a GPU are there.
Under ``NUMBA_ENABLE_CUDASIM=1`` Numba's simulator stands in for both: the kernels run as Python threads
on the host, which is how the test suite checks them without a GPU.
"""
from __future__ import annotations

import functools
import os

BACKENDS = ("cpu", "cuda")
INSTALL_HINT = "pip install 'reram-dse[cuda]'"


def simulated() -> bool:
    """Whether Numba's CUDA simulator replaces the device (``NUMBA_ENABLE_CUDASIM=1``, read by Numba at
    import, so it must be set before the process imports Numba)."""
    import numba

    return bool(getattr(numba.config, "ENABLE_CUDASIM", int(os.environ.get("NUMBA_ENABLE_CUDASIM", "0") or 0)))


@functools.cache
def cuda_unavailable() -> str | None:
    """Why the ``cuda`` backend cannot run here, in a few words, or None when it can."""
    try:
        from numba import cuda
    except ImportError as exc:  # numba without its CUDA target (and numba-cuda not installed)
        return f"numba's CUDA target is missing ({exc})"
    if simulated():
        return None
    try:
        if not cuda.is_available():
            return "no CUDA GPU or driver found"
    except Exception as exc:  # noqa: BLE001 - a broken driver install is "not available", said once
        return f"the CUDA driver failed ({' '.join(str(exc).split())[:200]})"
    try:
        from numba.cuda.cudadrv.nvvm import NVVM

        NVVM()  # the CUDA toolkit's compiler library (the extra's nvidia-* wheels carry it)
    except Exception as exc:  # noqa: BLE001
        return f"the CUDA toolkit's NVVM library is missing ({' '.join(str(exc).split())[:200]})"
    return None


def require_cuda() -> None:
    """Raise a one-line ValueError naming both needs (a GPU, the ``cuda`` extra) unless the backend can run."""
    reason = cuda_unavailable()
    if reason is not None:
        raise ValueError(f"backend 'cuda' needs an NVIDIA GPU with its driver and the reram-dse[cuda] extra "
                         f"(numba-cuda and the CUDA toolkit wheels: {INSTALL_HINT}); here {reason}")


def device_name() -> str:
    """The GPU the kernels run on (``CUDA simulator`` under the simulator); needs :func:`require_cuda`."""
    if simulated():
        return "CUDA simulator"
    from numba import cuda

    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def check_backend(backend) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a ValueError naming the field and the choices."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    return backend
