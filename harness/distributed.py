"""Data parallelism over ``torch.distributed`` (launched by ``torchrun``): who works on what, and gathering.

ebmbench never starts processes itself: ``torchrun --nproc-per-node N -m ebmbench run ...`` starts N copies of
the same command, and each finds its rank in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``). Every rank runs the same suite code; the expensive loops over batches are
sharded with ``map_batches`` (batch ``k`` of the global batch order goes to rank ``k mod world``) and gathered
in global order, so every rank ends with the same results and the records do not depend on the world size.
Random numbers inside a batch come from seeds derived from the run seed and the batch's global index
(``ebmbench.seeds``), never from a generator shared across batches. Rank 0 alone writes the run directory.

With no process group (the default, one process) every helper is the identity and costs nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0: the only process that writes run directories, caches and checkpoints."""
    return rank() == 0


def launched() -> bool:
    """True when started by torchrun (or any launcher that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: torch.device | str) -> torch.device:
    """Join the process group torchrun described (nccl on CUDA, gloo on CPU); returns this rank's device.

    Each CUDA rank takes GPU ``LOCAL_RANK``. A no-op outside torchrun or when a group exists already.
    """
    device = torch.device(device)
    if not launched():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def shutdown(ok: bool = True) -> None:
    """Leave the process group: after a final barrier when all went well (no rank exits while another still
    gathers); at once after an error, since the other ranks may be waiting in a collective that never ends."""
    if dist.is_available() and dist.is_initialized():
        if ok:
            with contextlib.suppress(Exception):
                dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_true(flag: bool) -> bool:
    """True only when ``flag`` is true on every rank (e.g. "every rank found this in its cache")."""
    if not active():
        return flag
    flags: list[Any] = [None] * world_size()
    dist.all_gather_object(flags, bool(flag))
    return all(flags)


def on_main(fn: Callable[[], T]) -> T:
    """``fn()`` computed on rank 0 only and sent to every rank (work that is not worth sharding)."""
    return broadcast(fn() if is_main() else None)


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. training a cached model); the others run it after, finding its result."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def my_batches(n_batches: int) -> range:
    """The global batch indices this rank computes."""
    return range(rank(), n_batches, world_size())


def for_each_batch(n_batches: int, compute: Callable[[int], T], sink: Callable[[int, T], None]) -> None:
    """``sink(k, compute(k))`` for every batch ``k`` in global order, on every rank, with ``compute`` sharded.

    Rounds of ``world_size`` batches: rank r computes batch ``round * world + r``, the round's results are
    gathered and every rank sinks them in order. Only one round's results are held at a time, so memory does
    not grow with the number of batches. ``compute`` should return CPU tensors (they are pickled).
    """
    if not active():
        for k in range(n_batches):
            sink(k, compute(k))
        return
    size, me = world_size(), rank()
    for first in range(0, n_batches, size):
        k = first + me
        local = compute(k) if k < n_batches else None
        gathered: list[Any] = [None] * size
        dist.all_gather_object(gathered, local)
        for j, result in enumerate(gathered):
            if first + j < n_batches:
                sink(first + j, result)


def map_batches(n_batches: int, compute: Callable[[int], T]) -> list[T]:
    """``[compute(k) for k in range(n_batches)]``, sharded over the ranks, gathered in order on every rank."""
    out: list[T] = []
    for_each_batch(n_batches, compute, lambda _k, result: out.append(result))
    return out


def map_split(x: torch.Tensor, batch_size: int, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``fn`` over ``x.split(batch_size)`` sharded by batch, concatenated on the CPU (rows in the order of x)."""
    n_batches = (len(x) + batch_size - 1) // batch_size
    parts = map_batches(n_batches, lambda k: fn(x[k * batch_size:(k + 1) * batch_size]).detach().cpu())
    return torch.cat(parts) if parts else torch.empty(0)
