"""Batched evaluation helpers shared by the suites: apply a model function over a dataset in batches."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

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
    """``fn`` applied to every image of ``data`` in batches; results concatenated on the CPU."""
    out = []
    for x, _ in tqdm(data.loader(batch_size), desc=desc, disable=not progress, leave=False):
        out.append(fn(x.to(device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0)


def check_finite(values: torch.Tensor, what: str) -> torch.Tensor:
    """Refuse NaN/inf scores with one line instead of letting them poison a metric."""
    from ebmbench.errors import EbmbenchError

    bad = (~torch.isfinite(values)).sum().item()
    if bad:
        raise EbmbenchError(f"{what}: {bad} of {len(values)} values are NaN or infinite; the model has diverged "
                            "or the input is outside its range")
    return values
