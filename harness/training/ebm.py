"""Train an EBM the way Du & Mordatch (2019) do: negatives from Langevin dynamics started from a replay
buffer (5% fresh noise), the contrastive loss E(x+) - E(x-) plus an L2 penalty on both energies, Adam with
beta1 = 0, optional spectral normalisation, unconditional or class-conditional."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ebmbench.data.base import DataContext
from ebmbench.devices import seed_everything
from ebmbench.models.base import ModelInfo
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch
from ebmbench.options import check_ranges, option
from ebmbench.replay_buffer import ReplayBuffer
from ebmbench.sampler import LangevinConfig, LangevinOptions
from ebmbench.training.common import Trainer, TrainRequest, training_set
from ebmbench.training.loop import ChainRecipe, train_with_chains


@dataclass(frozen=True)
class Config:
    """EBM training options (``--set key=value``).

    The default digits EBM (the quickstart's and the cached default) is ebmbench's digits recipe: these
    defaults with ``conditional=true ce_coeff=0.1 ema=0.99`` and the shared sampler's defaults (Langevin step 1,
    gradient clipped at 1, noise 0.01). On the full digits test split it classifies 0.94 of the digits (argmin
    of E(x, y)) and its samples after 60 Langevin steps from noise have FID[digits-cnn] 2.2 (mean over three
    training seeds; the held-out data's own FID is 0.29). Without the weight average the same training gives
    FID 3.3 to 7.0; the paper's sampler settings leave the digits EBM nearly flat (accuracy 0.55). The paper's
    CIFAR-10 setting is ``arch=igebm-cifar10 lr=1e-4 batch_size=128 sample_steps=60 l2_coeff=1
    sampler.step_size=10 sampler.grad_clip=0.01 sampler.noise=0.005``."""

    dataset: str = option("digits", help="training dataset (see `ebmbench list`)")
    arch: str = option("small", help="energy network: small, or igebm-cifar10 (the paper's ResNet)")
    width: int | None = option(None, help="network width (none: the architecture's default)")
    spectral_norm: bool | None = option(None, help="spectral normalisation (none: the architecture's default)")
    conditional: bool = option(False, help="class-conditional E(x, y) instead of E(x)")
    iterations: int = option(1000, help="training steps")
    batch_size: int = option(64, help="data images (and negatives) per step")
    lr: float = option(1e-3, help="Adam learning rate (beta1 = 0)")
    beta2: float = option(0.999, help="Adam beta2")
    l2_coeff: float = option(0.1, help="weight of the L2 penalty on the energies of data and negatives")
    ce_coeff: float = option(0.0, help="weight of the cross-entropy of the logits -E(x, y) (JEM's hybrid "
                             "objective; conditional models only)")
    sample_steps: int = option(20, help="Langevin steps per negative sample (from the replay buffer)")
    sampler: LangevinOptions = option(factory=LangevinOptions, help="the Langevin update that draws negatives")
    buffer_size: int = option(10000, help="replay buffer capacity")
    reinit: float = option(0.05, help="fraction of negatives restarted from uniform noise each step")
    checkpoint_every: int = option(100, help="steps between resumable checkpoints")
    max_energy: float = option(1e4, help="stop with an error when an energy exceeds this (divergence)")
    ema: float = option(0.0, help="decay of an exponential moving average of the weights, saved as the model "
                        "(0: the live weights; training always runs on the live weights)")
    seed: int = option(0, help="random seed")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("iterations", "batch_size", "width", "sample_steps", "buffer_size",
                                         "checkpoint_every"),
                     positive=("lr", "max_energy"), non_negative=("l2_coeff", "ce_coeff"))
        if self.ce_coeff and not self.conditional:
            raise ValueError("ce_coeff needs conditional=true (it is a cross-entropy on the labels' energies)")
        if not 0 <= self.reinit <= 1:
            raise ValueError(f"reinit={self.reinit} (must be in [0, 1])")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema={self.ema} (must be in [0, 1): the average's decay per step)")

    def langevin(self) -> LangevinConfig:
        return self.sampler.chain(self.sample_steps, clamp=(0.0, 1.0))


def build(config: Config, data_info: tuple[tuple[int, int, int], int]) -> EnergyModel:
    shape, num_classes = data_info
    info = ModelInfo(family="ebm", dataset=config.dataset, input_shape=shape, num_classes=num_classes,
                     conditional=config.conditional)
    net = resolve_arch(config.arch, width=config.width, spectral_norm=config.spectral_norm)
    return EnergyModel(info, net)


DIVERGENCE_ADVICE = "lower lr or sampler.step_size, or raise l2_coeff"  # what a diverged run should change


def train(config: Config, req: TrainRequest, data: DataContext | None = None) -> Path:
    """Train (or resume) an EBM and write its checkpoint to ``req.out``; returns the path. Under torchrun the
    training is data-parallel (``ebmbench.training.loop``)."""
    seed_everything(config.seed)
    train_set = training_set(config, data or DataContext(), "ebm")
    model = build(config, (train_set.shape, train_set.num_classes)).to(req.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.0, config.beta2))
    buffer = ReplayBuffer(config.buffer_size, train_set.shape, train_set.num_classes if config.conditional else 0,
                          config.reinit)
    recipe = ChainRecipe("ebm", model, Objective(model, config), config.langevin(),
                         conditional_chains=config.conditional, inplace=True, advice=DIVERGENCE_ADVICE,
                         average=config.ema)
    return train_with_chains(config, req, recipe, opt, buffer, train_set)


class Objective(nn.Module):
    """The EBM's loss on data ``(x, y)`` and negatives ``(x_neg, y_neg)``: E(x+) - E(x-) plus the L2 penalty on
    both energies, plus ``ce_coeff`` x the cross-entropy of the logits -E(x, y); with the metrics to log."""

    def __init__(self, model: EnergyModel, config: Config) -> None:
        super().__init__()
        self.model, self.config = model, config

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_neg: torch.Tensor,
                y_neg: torch.Tensor | None) -> dict[str, torch.Tensor]:
        config, model = self.config, self.model
        e_pos = model.energy(x, y if config.conditional else None)
        e_neg = model.energy(x_neg, y_neg)
        loss = e_pos.mean() - e_neg.mean() + config.l2_coeff * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        if config.ce_coeff:
            loss = loss + config.ce_coeff * torch.nn.functional.cross_entropy(-model.energy_all_classes(x), y)
        return {"loss": loss, "e_pos": e_pos.mean().detach(), "e_neg": e_neg.mean().detach()}


TRAINER = Trainer("ebm", Config, train, data_parallel=True)
