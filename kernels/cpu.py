"""Which CPU the kernels were compiled for and which vector popcount that gives them.

Numba compiles for the host CPU (or for ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` when set), and LLVM
lowers the kernels' vectorised ``llvm.ctpop`` by the instructions that CPU has: AVX-512 VPOPCNTDQ's
``vpopcntq`` (eight words per instruction), else on AVX2 the nibble-table sequence (``vpshufb`` lookups
of each 4-bit half, then ``vpsadbw`` sums: four words per several instructions), else scalar ``popcnt``.
The source is the same on every class; this module names the class so that benchmarks can say which
one they measured.
"""
from __future__ import annotations

from pathlib import Path

import llvmlite.binding as llvm
import numba

POPCOUNT_PATHS = ("avx512-vpopcntdq", "avx2-nibble-table", "scalar-popcnt", "generic")
REPORTED = ("popcnt", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vpopcntdq", "avx512bitalg",
            "avx512vnni", "avxvnni", "bmi2")


def target_features() -> tuple[str, set[str]]:
    """(CPU name, enabled features) that Numba compiles for: the host's, or ``NUMBA_CPU_NAME`` and the
    ``+feature`` entries of ``NUMBA_CPU_FEATURES`` (as Numba does, a name alone keeps the host's features).
    E.g. ``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=+avx,+avx2,+fma,+bmi2,+popcnt`` compiles the AVX2 class
    on an AVX-512 machine."""
    name = numba.config.CPU_NAME or llvm.get_host_cpu_name()
    if numba.config.CPU_FEATURES is not None:
        flags = {f[1:] for f in numba.config.CPU_FEATURES.split(",") if f.startswith("+")}
    else:
        flags = {k for k, v in llvm.get_host_cpu_features().items() if v}
    return name, flags


def popcount_path(flags: set[str]) -> str:
    """The vector popcount LLVM emits for these features (one of :data:`POPCOUNT_PATHS`)."""
    if {"avx512f", "avx512vpopcntdq"} <= flags:
        return POPCOUNT_PATHS[0]
    if "avx2" in flags:
        return POPCOUNT_PATHS[1]
    if "popcnt" in flags:
        return POPCOUNT_PATHS[2]
    return POPCOUNT_PATHS[3]


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else the empty string."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_report() -> dict:
    """``cpu_model``, ``cpu_name`` (LLVM's target), ``cpu_features`` (the relevant ones compiled for) and
    ``path`` (the kernels' popcount class)."""
    name, flags = target_features()
    return {"cpu_model": cpu_model(), "cpu_name": name, "cpu_features": sorted(f for f in REPORTED if f in flags),
            "path": popcount_path(flags)}
