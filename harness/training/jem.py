"""Train a JEM (Grathwohl et al. 2019): cross-entropy on the logits plus the contrastive log p(x) term on the
marginal energy E(x) = -logsumexp_y f(x)[y], whose negatives come from SGLD started from a replay buffer.

The loss per batch is CE(f(x), y) + p_x_weight * (mean E(x+) - mean E(x-)) (+ an optional L2 penalty on both
energies, 0 by default as in JEM). SGLD follows the paper: ``sgld_steps`` steps of
x <- x + step_size * grad_x logsumexp f(x) + noise * N(0, I) (the shared ``sampler`` group, with JEM's
defaults), with 5% of the chains restarted from uniform noise. ``sampler.step_size``, ``sampler.noise`` and
``data_noise`` (JEM's sigma, Gaussian noise on the training images) are in the network's input units, JEM's
[-1, 1]; the chains run on ebmbench's [0, 1] images with
the shared Langevin sampler, with step and noise converted (a range twice as wide means a step / 4 and a
noise / 2 on [0, 1]) and clamped to the image range, which JEM does not do.

Digits defaults (documented deviations from the paper's CIFAR-10 recipe, chosen to train in about a CPU
minute): the small conv net instead of WRN-28-10, Adam at lr 1e-3 without warm-up, batch 64, 300 iterations,
10 SGLD steps, a 2,000-image buffer. CIFAR-10 as in the paper: ``arch=wrn depth=28 width=10 lr=1e-4
sgld_steps=20 buffer_size=10000 warmup=1000 iterations=...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebmbench.data.base import DataContext
from ebmbench.devices import seed_everything
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import ModelInfo
from ebmbench.models.jem import JEM
from ebmbench.models.networks import resolve_arch
from ebmbench.options import check_ranges, option
from ebmbench.replay_buffer import ReplayBuffer
from ebmbench.sampler import LangevinConfig, LangevinOptions
from ebmbench.seeds import mix
from ebmbench.training.classifier import test_accuracy
from ebmbench.training.common import Trainer, TrainRequest, training_set
from ebmbench.training.loop import ChainRecipe, train_with_chains

INPUT_RANGE = (-1.0, 1.0)  # JEM's normalisation: (x - 0.5) / 0.5
TRAINABLE_NORMS = ("none", "batch", "instance", "layer")  # the WRN's norms but act (see models.wrn.ActNorm)


def jem_sgld() -> LangevinOptions:
    """JEM's SGLD update in its [-1, 1] input units: step 1, noise 0.01, no gradient clipping."""
    return LangevinOptions(step_size=1.0, noise=0.01, grad_clip=None)


@dataclass(frozen=True)
class Config:
    """JEM training options (``--set key=value``). SGLD settings and ``data_noise`` are in the network's
    [-1, 1] input units (the paper's)."""

    dataset: str = option("digits", help="training dataset (see `ebmbench list`)")
    arch: str = option("auto", help="auto (small for images of 16 pixels or less, else wrn), small or wrn")
    width: int | None = option(None, help="network width (WRN-depth-width; none: the architecture's default)")
    depth: int = option(28, help="WRN depth")
    norm: str = option("none", help="WRN normalisation: none, batch, instance or layer")
    iterations: int = option(300, help="training steps")
    batch_size: int = option(64, help="images per step")
    lr: float = option(1e-3, help="Adam learning rate")
    warmup: int = option(0, help="steps of linear learning-rate warm-up")
    p_x_weight: float = option(1.0, help="weight of the contrastive log p(x) term")
    l2_coeff: float = option(0.0, help="weight of an L2 penalty on the energies")
    sgld_steps: int = option(10, help="SGLD steps per negative sample")
    sampler: LangevinOptions = option(factory=jem_sgld, help="the SGLD update, in [-1, 1] input units")
    data_noise: float = option(0.03, help="Gaussian noise std on the training images (JEM's sigma)")
    buffer_size: int = option(2000, help="replay buffer capacity")
    reinit: float = option(0.05, help="fraction of chains restarted from uniform noise each step")
    checkpoint_every: int = option(100, help="steps between resumable checkpoints")
    max_energy: float = option(1e4, help="stop with an error when an energy exceeds this (divergence)")
    seed: int = option(0, help="random seed")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("iterations", "batch_size", "width", "sgld_steps", "buffer_size",
                                         "checkpoint_every", "depth"),
                     positive=("lr", "max_energy"), non_negative=("p_x_weight", "l2_coeff", "data_noise", "warmup"))
        if not 0 <= self.reinit <= 1:
            raise ValueError(f"reinit={self.reinit} (must be in [0, 1])")
        if self.arch not in ("auto", "small", "wrn"):
            raise ValueError(f"arch={self.arch!r} (must be auto, small or wrn)")
        if self.norm not in TRAINABLE_NORMS:
            names = f"{', '.join(TRAINABLE_NORMS[:-1])} or {TRAINABLE_NORMS[-1]}"
            raise ValueError(f"norm={self.norm!r} (must be {names}; JEM's act norm, whose data-dependent start "
                             "ebmbench does not reproduce, is for imported checkpoints only)")

    def langevin(self) -> LangevinConfig:
        """The paper's SGLD in [-1, 1] units, as the same chain on [0, 1] images."""
        scale = INPUT_RANGE[1] - INPUT_RANGE[0]
        s = self.sampler
        clip = None if s.grad_clip is None else s.grad_clip * scale  # a [0, 1] gradient is scale times larger
        return LangevinConfig(steps=self.sgld_steps, step_size=s.step_size / scale ** 2, noise=s.noise / scale,
                              grad_clip=clip, clamp=(0.0, 1.0))


def network_config(config: Config, shape: tuple[int, int, int]) -> dict[str, object]:
    """The JEM model's architecture config for images of ``shape``."""
    arch = config.arch if config.arch != "auto" else ("small" if max(shape[1:]) <= 16 else "wrn")
    if arch == "wrn":
        net: dict[str, object] = {"arch": "wrn", "depth": config.depth, "width": config.width or 10,
                                  "norm": config.norm}
    else:
        net = resolve_arch("small", width=config.width)
    return {**net, "input_range": list(INPUT_RANGE)}


def build(config: Config, shape: tuple[int, int, int], num_classes: int) -> JEM:
    if num_classes < 2:
        raise EbmbenchError(f"dataset {config.dataset!r} has no class labels; a JEM needs them")
    info = ModelInfo(family="jem", dataset=config.dataset, input_shape=shape, num_classes=num_classes,
                     conditional=True)
    try:
        return JEM(info, network_config(config, shape))
    except ValueError as exc:
        raise EbmbenchError(f"cannot build the JEM: {exc}") from None


DIVERGENCE_ADVICE = "lower lr or sampler.step_size, add warmup, or set l2_coeff"  # what a diverged run should change


def train(config: Config, req: TrainRequest, data: DataContext | None = None) -> Path:
    """Train (or resume) a JEM and write its checkpoint (with test accuracy) to ``req.out``. Under torchrun the
    training is data-parallel (``ebmbench.training.loop``)."""
    seed_everything(config.seed)
    ctx = data or DataContext()
    train_set = training_set(config, ctx, "jem")
    model = build(config, train_set.shape, train_set.num_classes).to(req.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    buffer = ReplayBuffer(config.buffer_size, train_set.shape, 0, config.reinit)

    def add_test_accuracy(metrics: dict[str, float]) -> None:
        metrics["test_accuracy"] = test_accuracy(model, ctx, config.dataset, req.device)
        model.train()

    recipe = ChainRecipe("jem", model, Objective(model, config),
                         config.langevin() if config.p_x_weight > 0 else None, sample_in_eval=True,
                         noise_name="SGLD noise", what="JEM training", advice=DIVERGENCE_ADVICE,
                         shown=("ce", "e_pos", "e_neg"), prepare=lambda x, step: _data_noise(x, config, step),
                         before_step=lambda step: _set_lr(opt, config, step), at_checkpoint=add_test_accuracy)
    return train_with_chains(config, req, recipe, opt, buffer, train_set)


def _set_lr(opt: torch.optim.Optimizer, config: Config, step: int) -> None:
    """Linear warm-up over ``warmup`` steps (JEM's CIFAR recipe uses 1000), then the constant ``lr``."""
    lr = config.lr * min(1.0, (step + 1) / config.warmup) if config.warmup else config.lr
    for group in opt.param_groups:
        group["lr"] = lr


def _data_noise(x: torch.Tensor, config: Config, step: int) -> torch.Tensor:
    """JEM's sigma: Gaussian noise on the training images (in [-1, 1] units: half of it on [0, 1] images), drawn
    for the whole global batch from a stream of the run seed and the step."""
    if config.data_noise <= 0:
        return x
    noise_gen = torch.Generator(device=x.device).manual_seed(mix(config.seed, step))
    scale = INPUT_RANGE[1] - INPUT_RANGE[0]
    return x + config.data_noise / scale * torch.randn(x.shape, generator=noise_gen, device=x.device)


class Objective(nn.Module):
    """JEM's loss on data ``(x, y)`` and SGLD negatives ``x_neg``: CE(f(x), y) + p_x_weight x (mean E(x+) -
    mean E(x-)) + the optional L2 penalty on both energies; with the metrics to log. The model trains in train
    mode (it samples in eval mode, as JEM's code does)."""

    def __init__(self, model: JEM, config: Config) -> None:
        super().__init__()
        self.model, self.config = model, config

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_neg: torch.Tensor | None,
                _y_neg: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        config, model = self.config, self.model
        model.train()
        loss = ce = F.cross_entropy(model.logits(x), y)
        e_pos = e_neg = torch.zeros((), device=x.device)
        if x_neg is not None:
            e_pos, e_neg = model.energy(x), model.energy(x_neg)
            contrast = e_pos.mean() - e_neg.mean()
            loss = loss + config.p_x_weight * contrast + config.l2_coeff * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        return {"loss": loss, "ce": ce.detach(), "e_pos": e_pos.mean().detach(), "e_neg": e_neg.mean().detach()}


TRAINER = Trainer("jem", Config, train, data_parallel=True)
