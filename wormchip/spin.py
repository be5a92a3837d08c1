"""Two numba-compiled threads meeting once per step: atomic load/store of a step counter, and a yield.

The calibration's float run at 100k neurons splits its neurons between two threads (`wormchip.mappers.
calibration_run`); each publishes "step k done" with a release store and waits for the other's with acquire
loads, so the spikes written before the store are visible after the load. A waiting thread spins briefly, then
yields its core (`sched_yield`), so a loaded machine is slowed, not stalled. numba has no atomics of its own;
these are LLVM's, through intrinsics, and compile into cached functions like any other.
"""

from __future__ import annotations

from llvmlite import ir as llvm_ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: Spins before a waiting thread yields its core (a step's work is ~0.3 ms at 100k neurons; a spin ~10 ns).
SPINS_BEFORE_YIELD = 2000


def _int64_array(array: types.Type) -> bool:
    return isinstance(array, types.Array) and array.dtype == types.int64


@intrinsic
def load_acquire(typingctx, array, index):  # noqa: ARG001 - numba passes the typing context
    """`array[index]` of an int64 array, read atomically with acquire ordering."""
    if not _int64_array(array) or not isinstance(index, types.Integer):
        return None
    signature = types.int64(array, index)

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.load_atomic(builder.gep(data, [args[1]]), ordering="acquire", align=8)

    return signature, codegen


@intrinsic
def store_release(typingctx, array, index, value):  # noqa: ARG001
    """`array[index] = value` on an int64 array, written atomically with release ordering."""
    if (
        not _int64_array(array)
        or not isinstance(index, types.Integer)
        or not isinstance(value, types.Integer)
    ):
        return None
    signature = types.void(array, index, value)

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        stored = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(stored, builder.gep(data, [args[1]]), ordering="release", align=8)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def yield_core(typingctx):  # noqa: ARG001
    """POSIX `sched_yield()`: let another runnable thread have this core."""
    signature = types.int32()

    def codegen(context, builder, sig, args):  # noqa: ARG001
        fnty = llvm_ir.FunctionType(llvm_ir.IntType(32), [])
        return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "sched_yield"), [])

    return signature, codegen
