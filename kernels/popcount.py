"""Bit intrinsics for Numba: LLVM's ``ctpop`` on 64-bit words, and one bit of 64 small integers as a word.

LLVM lowers ``llvm.ctpop.i64`` to ``popcnt`` and, inside vectorised loops on machines with AVX-512
VPOPCNTDQ, to ``vpopcntq`` over eight words at once; numpy has no equivalent Numba can compile.
:func:`bit_of_64` is a bit-matrix transpose step: on AVX-512 one ``vptestmb`` (``vptestmw``) and a mask move.
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


@intrinsic
def bit_of_64(typingctx, values, start, bit):
    """uint64 whose bit ``r`` is bit ``bit`` of ``values[start + r]``, for ``r < 64``.

    ``values`` is a C-contiguous uint8 or uint16 array holding at least ``start + 64`` elements (the
    caller pads it; elements past the ones it means must be masked off by the caller or be zero).
    Compiles to a vector load of 64 elements, an AND with ``1 << bit`` and a compare into a 64-bit mask.
    """
    if not (isinstance(values, types.Array) and values.ndim == 1 and values.layout == "C"
            and values.dtype in (types.uint8, types.uint16)):
        return None
    width = values.dtype.bitwidth
    sig = types.uint64(values, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        array, first, which = args
        data = context.make_array(signature.args[0])(context, builder, array).data
        lanes = ir.VectorType(ir.IntType(width), 64)
        chunk = builder.load(builder.bitcast(builder.gep(data, [first]), lanes.as_pointer()), align=1)
        one = builder.trunc(builder.shl(ir.Constant(ir.IntType(64), 1), which), ir.IntType(width))
        undef = ir.Constant(lanes, ir.Undefined)
        mask = builder.shuffle_vector(builder.insert_element(undef, one, ir.Constant(ir.IntType(32), 0)), undef,
                                      ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64))
        hit = builder.icmp_unsigned("!=", builder.and_(chunk, mask), ir.Constant(lanes, [0] * 64))
        return builder.bitcast(hit, ir.IntType(64))

    return sig, codegen
