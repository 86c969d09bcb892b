"""Hardware popcount for Numba: LLVM's ``ctpop`` intrinsic on 64-bit words.

LLVM lowers ``llvm.ctpop.i64`` to ``popcnt`` and, inside vectorised loops on machines with AVX-512
VPOPCNTDQ, to ``vpopcntq`` over eight words at once; numpy has no equivalent Numba can compile.
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def popcount64(typingctx, word):
    """Number of set bits of a uint64 word, as uint64."""
    if word != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return sig, codegen
