"""One copy of a large object for all worker processes: its arrays in shared memory, read-only.

Worker processes are spawned (the Numba kernels run on GNU OpenMP, which a forked child cannot use), so
everything a worker needs reaches it pickled. Pickled per task, a transformer workload and its mapped
network (about 180 MB for minilm-l6) would be copied once per chip. Instead the object is pickled once
with protocol 5, its contiguous arrays out of band (``buffer_callback``), and those buffers are copied into
one shared memory block; each worker gets the small pickle and the block's name once, at start-up, and
unpickles arrays that are read-only views into the block: K workers, one copy of the data.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from multiprocessing import shared_memory

ALIGN = 64  # bytes: every array starts aligned for vector loads (Numba and BLAS read them in place)


@dataclass(frozen=True)
class SharedHandle:
    """What a worker needs to rebuild the object: the block's name, the pickle, each buffer's span."""

    name: str
    payload: bytes
    spans: tuple[tuple[int, int], ...]


class SharedObject:
    """``obj`` pickled once, its arrays in one shared memory block; ``handle`` goes to the workers.
    Use as a context manager: the block is unlinked on exit (after the workers are done)."""

    def __init__(self, obj) -> None:
        buffers: list[pickle.PickleBuffer] = []
        payload = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        raws = [b.raw() for b in buffers]
        spans, offset = [], 0
        for raw in raws:
            spans.append((offset, raw.nbytes))
            offset += -(-raw.nbytes // ALIGN) * ALIGN
        self._shm = shared_memory.SharedMemory(create=True, size=max(offset, 1))
        for raw, (start, size) in zip(raws, spans):
            self._shm.buf[start:start + size] = raw
        self.handle = SharedHandle(self._shm.name, payload, tuple(spans))
        self.shared_bytes = offset

    def __enter__(self) -> SharedObject:
        return self

    def __exit__(self, *exc) -> None:
        self._shm.close()
        self._shm.unlink()


_attached: dict[str, tuple[shared_memory.SharedMemory, object]] = {}  # kept open while the worker lives


def attach(handle: SharedHandle):
    """The object in a worker: arrays are read-only views of the shared block (attached once per process)."""
    if handle.name not in _attached:
        shm = shared_memory.SharedMemory(name=handle.name)
        view = shm.buf.toreadonly()
        obj = pickle.loads(handle.payload, buffers=[view[start:start + size] for start, size in handle.spans])
        _attached[handle.name] = (shm, obj)
    return _attached[handle.name][1]
