"""The maximum-likelihood training loop that the likelihood baselines (Glow, PixelCNN++) share: minimise
negative log-likelihood in nats per dimension with Adam (linear warm-up, gradient clipping), checkpoint
periodically and resumably, and record train and test bits/dim in the checkpoint's training metrics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ebmbench.data.base import DataContext, ImageSet, load_dataset
from ebmbench.devices import seed_everything
from ebmbench.errors import DivergenceError
from ebmbench.models.base import Model
from ebmbench.models.dequantize import natural_bins
from ebmbench.options import check_ranges, option
from ebmbench.scoring import score_set
from ebmbench.training.common import (
    TrainRequest,
    infinite_batches,
    restore_generator,
    restore_optimizer,
    resume_from,
    save_training,
    training_set,
)


@dataclass(frozen=True)
class DensityConfig:
    """The training options every likelihood model shares (each family's ``Config`` adds its architecture)."""

    dataset: str = option("digits", help="training dataset (see `ebmbench list`)")
    bins: int = option(0, help="dequantization levels (0: the levels the training data lies on, e.g. 17 for the "
                               "digits, 256 for 8-bit images)")
    iterations: int = option(300, help="training steps")
    batch_size: int = option(64, help="images per step")
    lr: float = option(2e-3, help="Adam learning rate (after a linear warm-up)")
    warmup: int = option(20, help="steps of linear learning-rate warm-up")
    grad_clip: float = option(50.0, help="gradient-norm clipping")
    checkpoint_every: int = option(500, help="steps between resumable checkpoints")
    seed: int = option(0, help="random seed")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("iterations", "batch_size", "checkpoint_every"), positive=("lr",),
                     non_negative=("warmup", "bins"))


Objective = Callable[[Model, torch.Tensor, torch.Generator], torch.Tensor]  # per-example log-likelihood (nats)


def train_density(config: Any, req: TrainRequest, data: DataContext | None, family: str,
                  build: Callable[[Any, ImageSet], Model], objective: Objective) -> Path:
    """Train (or resume) a likelihood model and write its checkpoint, with test bits/dim, to ``req.out``.

    ``config`` needs ``dataset, iterations, batch_size, lr, warmup, grad_clip, checkpoint_every, seed``.
    """
    seed_everything(config.seed)
    ctx = data or DataContext()
    train_set = training_set(config, ctx, family)
    model = build(config, train_set).to(req.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator(device=req.device).manual_seed(config.seed)
    start, metrics = 0, {}
    if (ckpt := resume_from(req, family, config)) is not None:
        model.load_state_dict(ckpt.model.state_dict())
        restore_optimizer(opt, ckpt.state, ckpt.training["optim_param_groups"])
        start, metrics = int(ckpt.training["step"]), dict(ckpt.training.get("metrics", {}))
        restore_generator(gen, ckpt.state["state.rng.dequantize"], config.seed, start, "dequantization noise")
    dims = math.prod(train_set.shape)
    batches = infinite_batches(train_set, config.batch_size, config.seed, start_step=start)
    bar = tqdm(range(start, config.iterations), desc=f"train {family}", disable=not req.progress, initial=start,
               total=config.iterations)
    for step in bar:
        tic = time.perf_counter()
        model.train()
        _, x, _ = next(batches)
        loss = _step(model, opt, objective, x.to(req.device), gen, config, step, dims, req.out)
        bpd = loss / math.log(2.0) + math.log2(model.bins)  # nats/dim on [0, 1] -> bits/dim of the levels
        bar.set_postfix(bpd=f"{bpd:.3f}", img_s=f"{len(x) / (time.perf_counter() - tic):.0f}")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.iterations:
            metrics = {"train_bits_per_dim": bpd,
                       "test_bits_per_dim": test_bits_per_dim(model, ctx, config.dataset, req.device)}
            save_training(req, model, config, step + 1, opt, {"state.rng.dequantize": gen.get_state()}, metrics)
    if not req.out.exists():  # iterations reached before this call: still leave a checkpoint
        save_training(req, model, config, start, opt, {"state.rng.dequantize": gen.get_state()}, metrics)
    model.eval()
    return req.out


def _step(model: Model, opt: torch.optim.Optimizer, objective: Objective, x: torch.Tensor, gen: torch.Generator,
          config: Any, step: int, dims: int, out: Path) -> float:
    """One Adam step on the negative log-likelihood (nats/dim); a non-finite loss stops training clearly."""
    for group in opt.param_groups:
        group["lr"] = config.lr * min(1.0, (step + 1) / max(1, config.warmup))
    loss = -objective(model, x, gen).mean() / dims
    if not torch.isfinite(loss):
        kept = f"the last good checkpoint is {out}" if out.exists() else "no checkpoint was written yet"
        raise DivergenceError(f"training diverged at step {step} (non-finite likelihood); {kept}; lower lr")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    opt.step()
    return loss.item()


def test_bits_per_dim(model: Model, ctx: DataContext, dataset: str, device: torch.device) -> float:
    """Mean bits/dim of the dataset's test split under the model (at the model's discretization)."""
    model.eval()
    test = load_dataset(dataset, "test", ctx)
    return score_set(model.bits_per_dim, test, device).mean().item()


def resolve_bins(bins: int, data: ImageSet, sample: int = 1000) -> int:
    """``bins``, or for 0 the number of levels the training data lies on (from a seeded sample of images)."""
    if bins:
        return bins
    x, _ = data.tensors(n=sample, seed=0)
    return natural_bins(x)
