"""Batched evaluation helpers shared by the suites: apply a model function over a dataset in batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ebmbench import distributed
from ebmbench.data.base import ImageSet
from ebmbench.models.base import Model


def free_energy(model: Model, x: torch.Tensor) -> torch.Tensor:
    """E(x) for unconditional models; -logsumexp_y(-E(x, y)) (the marginal energy) for conditional ones."""
    if model.info.conditional:
        return marginal_energy(model.energy_all_classes(x))
    return model.energy(x)


def marginal_energy(energies: torch.Tensor) -> torch.Tensor:
    """-logsumexp_y(-E(x, y)) from the (batch, classes) energies of every label."""
    return -torch.logsumexp(-energies, dim=1)


@torch.no_grad()
def score_set(fn: Callable[[torch.Tensor], torch.Tensor], data: ImageSet, device: torch.device | str,
              batch_size: int = 256, desc: str | None = None, progress: bool = False) -> torch.Tensor:
    """``fn`` applied to every image of ``data`` in batches; results concatenated on the CPU in the set's order.

    Under torchrun the batches are shared out over the ranks and gathered (see ``ebmbench.distributed``).
    """
    n_batches = (len(data) + batch_size - 1) // batch_size
    bar = tqdm(total=n_batches, desc=desc, disable=not progress, leave=False)

    def compute(k: int) -> torch.Tensor:
        return fn(batch_of(data, k, batch_size).to(device)).float().cpu()

    def sink(_k: int, values: torch.Tensor) -> None:
        out.append(values)
        bar.update()

    out: list[torch.Tensor] = []
    try:
        distributed.for_each_batch(n_batches, compute, sink)
    finally:
        bar.close()
    return torch.cat(out) if out else torch.empty(0)


def batch_of(data: ImageSet, k: int, batch_size: int) -> torch.Tensor:
    """The images of batch ``k`` of ``data`` (what its ``loader(batch_size)`` yields k-th), stacked."""
    end = min((k + 1) * batch_size, len(data))
    return torch.stack([data.dataset[i][0] for i in range(k * batch_size, end)])


def check_finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """Refuse NaN/inf scores with one line instead of letting them poison a metric."""
    from ebmbench.errors import EbmbenchError

    bad = (~torch.isfinite(values)).sum().item()
    if bad:
        raise EbmbenchError(f"{what}: {bad} of {len(values)} values are NaN or infinite; the model has diverged "
                            "or the input is outside its range")
    return values
