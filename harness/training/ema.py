"""An exponential moving average of a model's weights (Polyak averaging): the averaged copy is what a trainer
saves as the model, while training itself goes on with the live weights. Contrastive EBM training oscillates
from step to step (negatives chase the energy, the energy chases the negatives); the average smooths that
oscillation out, and Langevin samples drawn from it are closer to the data."""

from __future__ import annotations

import copy

import torch
from torch import nn

LIVE = "state.live."  # checkpoint prefix of the live weights, restored when a run is resumed


class WeightAverage:
    """``average <- decay * average + (1 - decay) * live`` after every optimizer step; buffers are copied."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, live: nn.Module) -> None:
        for avg, cur in zip(self.model.parameters(), live.parameters(), strict=True):
            avg.lerp_(cur.detach(), 1 - self.decay)
        for avg, cur in zip(self.model.buffers(), live.buffers(), strict=True):
            avg.copy_(cur)


def live_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The live weights under ``LIVE``, to store beside the averaged model in a resumable checkpoint."""
    return {f"{LIVE}{k}": v.detach().cpu() for k, v in model.state_dict().items()}


def restore_live(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load the live weights ``live_state`` stored."""
    model.load_state_dict({k[len(LIVE):]: v for k, v in state.items() if k.startswith(LIVE)})
