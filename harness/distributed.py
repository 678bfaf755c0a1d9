"""Data parallelism over ``torch.distributed`` (launched by ``torchrun``): who works on what, and gathering.

ebmbench never starts processes itself: ``torchrun --nproc-per-node N -m ebmbench run ...`` starts N copies of
the same command, and each finds its rank in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``). Every rank runs the same suite code; the expensive loops over batches are
sharded with ``map_batches`` (batch ``k`` of the global batch order goes to rank ``k mod world``) and gathered
in global order, so every rank ends with the same results and the records do not depend on the world size.
Random numbers inside a batch come from seeds derived from the run seed and the batch's global index
(``ebmbench.seeds``), never from a generator shared across batches. Rank 0 alone writes the run directory.

Data-parallel training (``torchrun ... -m ebmbench train``) uses the same group with DistributedDataParallel:
``local_rows`` (this rank's rows of a global batch), ``gather_rows`` (the ranks' rows back in global order),
``mean_over_ranks`` (logged metrics) and ``replicas_agree`` (every rank holds the same weights and state).

With no process group (the default, one process) every helper is the identity and costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ebmbench.errors import EbmbenchError

T = TypeVar("T")
_solo = False  # inside ``solo()``: this process works on its own, as if there were no group


def active() -> bool:
    """True inside a process group of more than one process (and not inside ``solo()``)."""
    return not _solo and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextlib.contextmanager
def solo() -> Iterator[None]:
    """Within the block this process works alone: every helper is the one-process identity and rank 0's view
    is its own (e.g. rank 0 training a cached model while the others wait in ``main_first``; a collective
    there would wait for ranks that never join it)."""
    global _solo
    before, _solo = _solo, True
    try:
        yield
    finally:
        _solo = before


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


def backend() -> str | None:
    """The group's backend (``gloo``, ``nccl``), None in one process."""
    return str(dist.get_backend()) if active() else None


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
    """``fn()`` computed on rank 0 only (``solo``: the others wait in the broadcast and join no collective of
    ``fn``) and sent to every rank (work that is not worth sharding)."""
    if not is_main():
        return broadcast(None)
    with solo():
        value = fn()
    return broadcast(value)


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. training a cached model); the others run it after, finding its result.
    Each runs it on its own (``solo``): the others are not there to join a collective."""
    if not is_main():
        barrier()
    try:
        with solo():
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


def local_rows(total: int, what: str) -> slice:
    """This rank's rows of a global batch of ``total``: rank r holds rows ``r * total / world`` up to the next
    rank's first; a one-line error when ``total`` does not split evenly (``what`` names the option)."""
    size = world_size()
    if total % size:
        lower, upper = total - total % size, total + size - total % size
        hint = f"{lower} or {upper}" if lower else str(upper)
        raise EbmbenchError(f"{what}={total} is the global batch and cannot be split evenly over {size} processes; "
                            f"use a multiple of {size}, e.g. --set {what}={hint}")
    per_rank = total // size
    return slice(rank() * per_rank, (rank() + 1) * per_rank)


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """The ranks' equally sized blocks of rows, concatenated in rank order (the global batch), on every rank."""
    if not active():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def mean_over_ranks(values: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Each value averaged over the ranks (a per-rank mean over equally many examples becomes the global
    batch's mean); ``device`` is where the reduction runs (a CUDA device under nccl)."""
    if not active() or not values:
        return values
    total = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return dict(zip(values, (total / world_size()).tolist(), strict=True))


@torch.no_grad()
def broadcast_tensors(tensors: Iterable[torch.Tensor]) -> None:
    """Rank 0's values copied into every rank's ``tensors`` in place (one broadcast per dtype), e.g. BatchNorm
    running statistics that each rank updated with its own batch."""
    if not active():
        return
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault(t.dtype, []).append(t)
    for group in groups.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        dist.broadcast(flat, src=0)
        for t, part in zip(group, flat.split([t.numel() for t in group]), strict=True):
            t.copy_(part.view_as(t))


def replicas_agree(tensors: Iterable[torch.Tensor]) -> bool:
    """True when every rank holds bit-identical ``tensors`` (weights, buffers, random states: the replicas of
    data-parallel training), compared by a digest of their bytes; trivially True in one process."""
    if not active():
        return True
    digest = hashlib.blake2b(digest_size=16)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    mine = digest.hexdigest()
    every: list[Any] = [None] * world_size()
    dist.all_gather_object(every, mine)
    return all(d == mine for d in every)
