"""Compile the cuda backend's kernels to PTX without a GPU and count the double-precision operations.

Needs the cuda extra (numba-cuda and the CUDA toolkit wheels: NVVM and NVRTC), not a GPU:

    .venv/bin/python scripts/cuda_ptx.py [--cc 9.0]

The combine kernel must hold no ``fma.rn.f64``: NVVM contracts ``y + a * b`` into one fused multiply-add
(one rounding) where the CPU kernel rounds twice, and the control kernel below shows that it does.
numba-cuda asks the current device for its compute capability when it compiles a device function; with no
GPU there is none, so this script answers for it with ``--cc``.
"""
from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability to compile for (default 9.0, H100/H200)")
    cc = tuple(int(part) for part in parser.parse_args().cc.split("."))
    from numba import cuda, typeof
    from numba.cuda import dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    from kernels.cuda import exact, mvm

    def ty(*args):
        return tuple(typeof(a) for a in args)

    u64, i64, f64 = (np.zeros((1,) * 4, np.uint64), np.zeros(1, np.int64), np.zeros(1))
    i64_2, i64_3, f64_2, u8_2 = np.zeros((1, 1), np.int64), np.zeros((1,) * 3, np.int64), np.zeros((1, 1)), np.zeros((1, 1), np.uint8)
    kernels = {
        "_bitline_codes": (mvm._bitline_codes.py_func, ty(u64, u64, i64, 1, 1, 1, 1, 1.0, 1, 1, i64_3, i64)),
        "_combine_groups": (mvm._combine_groups.py_func,
                            ty(i64_3, i64, i64, i64_2, i64, f64, 1, i64_2, 1.0, 1, u64, i64, 1, 1.0, True, u8_2, True,
                               f64_2)),
        # The exact path's product sums integers: fused multiply-adds are exact there and allowed.
        "_dense": (exact._dense.py_func, ty(f64_2, f64_2, 1.0, f64_2)),
        "_tile_sums": (exact._tile_sums.py_func, ty(f64_2, i64_2, 1, i64_3)),
    }

    def control(y, a, b):  # what the combine would compile to with plain operators
        y[0] = y[0] + a[0] * b[0]

    kernels["control: y + a * b"] = (control, ty(f64, f64, f64))
    print(f"{getattr(cuda, 'implementation', '?')} CUDA target, compute capability {cc[0]}.{cc[1]}")
    ok = True
    for name, (fn, sig) in kernels.items():
        ptx, _ = cuda.compile_ptx(fn, sig, cc=cc)
        counts = {op: ptx.count(op) for op in ("fma.rn.f64", "mul.rn.f64", "add.rn.f64", "div.rn.f64", "popc.b64")}
        print(f"  {name:22s} " + "  ".join(f"{op} {n}" for op, n in counts.items()))
        if name.startswith("control"):
            ok &= counts["fma.rn.f64"] > 0
        elif name != "_dense":
            ok &= counts["fma.rn.f64"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
