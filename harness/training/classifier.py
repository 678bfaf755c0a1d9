"""Train a plain classifier, optionally with PGD adversarial training (Madry et al. 2018): the baseline for
classifier OOD scores and for robustness comparisons."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.devices import seed_everything
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import ModelInfo
from ebmbench.models.classifier import Classifier
from ebmbench.models.networks import resolve_arch
from ebmbench.options import check_ranges, option
from ebmbench.scoring import score_set
from ebmbench.seeds import mix
from ebmbench.training.common import (
    Trainer,
    TrainRequest,
    infinite_batches,
    restore_optimizer,
    resume_from,
    save_training,
    training_set,
)


@dataclass(frozen=True)
class Config:
    """Classifier training options. ``adv_train`` is ``linf:EPS`` or ``l2:EPS`` (PGD training) or empty.
    ``noise_aug`` is Gaussian noise augmentation: each training image gets N(0, s^2) pixel noise, s drawn
    uniformly from [0, noise_aug] per image, clipped to [0, 1]; 0 trains on clean images only."""

    dataset: str = option("digits", help="training dataset (see `ebmbench list`)")
    arch: str = option("small", help="network: small, or igebm-cifar10 (the paper's ResNet)")
    width: int | None = option(32, help="network width (none: the architecture's default)")
    spectral_norm: bool | None = option(False, help="spectral normalisation (none: the architecture's default)")
    iterations: int = option(400, help="training steps")
    batch_size: int = option(128, help="images per step")
    lr: float = option(1e-3, help="Adam learning rate")
    adv_train: str = option("", help="PGD adversarial training: linf:EPS or l2:EPS (empty: standard training)")
    adv_steps: int = option(7, help="PGD steps per adversarial training example")
    noise_aug: float = option(0.0, help="Gaussian noise augmentation: per-image noise std drawn from U(0, "
                                        "noise_aug) (0: clean images only)")
    checkpoint_every: int = option(200, help="steps between resumable checkpoints")
    seed: int = option(0, help="random seed")

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("iterations", "batch_size", "width", "adv_steps", "checkpoint_every"),
                     positive=("lr",), non_negative=("noise_aug",))

    def adversary(self) -> tuple[str, float] | None:
        """The parsed ``adv_train`` threat model, or None for standard training."""
        if not self.adv_train:
            return None
        norm, _, eps = self.adv_train.partition(":")
        try:
            if norm not in ("linf", "l2") or float(eps) <= 0:
                raise ValueError
            return norm, float(eps)
        except ValueError:
            raise EbmbenchError(f"adv_train must look like linf:0.1 or l2:0.5 (a positive radius), "
                               f"not {self.adv_train!r}") from None


def build(config: Config, shape: tuple[int, int, int], num_classes: int) -> Classifier:
    if num_classes < 2:
        raise EbmbenchError(f"dataset {config.dataset!r} has no class labels; a classifier cannot be trained on it")
    info = ModelInfo(family="classifier", dataset=config.dataset, input_shape=shape, num_classes=num_classes)
    return Classifier(info, resolve_arch(config.arch, width=config.width, spectral_norm=config.spectral_norm))


def pgd_attack(model: Classifier, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float,
               steps: int) -> torch.Tensor:
    """Adversarial examples for training (inputs in [0, 1]), from the one PGD builder."""
    from ebmbench.attacks import make_pgd, step_size

    return make_pgd(model.logits_module(), norm, eps, steps, step_size(eps, steps))(x, y)  # type: ignore[arg-type]


def add_training_noise(x: torch.Tensor, max_sigma: float, seed: int) -> torch.Tensor:
    """``x`` plus Gaussian noise of a per-image level drawn from U(0, max_sigma), clipped to [0, 1]. Seeded per
    step so a resumed run draws the same noise as an uninterrupted one."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    sigma = max_sigma * torch.rand(len(x), *([1] * (x.dim() - 1)), generator=gen, device=x.device)
    return (x + sigma * torch.randn(x.shape, generator=gen, device=x.device)).clamp(0, 1)


def train(config: Config, req: TrainRequest, data: DataContext | None = None) -> Path:
    """Train (or resume) a classifier and write its checkpoint (with test accuracy) to ``req.out``."""
    seed_everything(config.seed)
    ctx = data or DataContext()
    train_set = training_set(config, ctx, "classifier")
    model = build(config, train_set.shape, train_set.num_classes).to(req.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    adversary = config.adversary()
    start = 0
    if (ckpt := resume_from(req, "classifier", config)) is not None:
        model.load_state_dict(ckpt.model.state_dict())
        restore_optimizer(opt, ckpt.state, ckpt.training["optim_param_groups"])
        start = int(ckpt.training["step"])
    batches = infinite_batches(train_set, config.batch_size, config.seed, start_step=start)
    bar = tqdm(range(start, config.iterations), desc="train classifier", disable=not req.progress,
               initial=start, total=config.iterations)
    for step in bar:
        tic = time.perf_counter()
        _, x, y = next(batches)
        x, y = x.to(req.device), y.to(req.device)
        if config.noise_aug > 0:
            x = add_training_noise(x, config.noise_aug, seed=mix(config.seed, step))
        if adversary is not None:
            model.eval()
            x = pgd_attack(model, x, y, adversary[0], adversary[1], config.adv_steps)
        model.train()
        loss = F.cross_entropy(model.logits(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", img_s=f"{len(x) / (time.perf_counter() - tic):.0f}")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.iterations:
            metrics = {"loss": loss.item(), "test_accuracy": test_accuracy(model, ctx, config.dataset, req.device)}
            save_training(req, model, config, step + 1, opt, {}, metrics)
    model.eval()
    return req.out


def test_accuracy(model: Classifier, ctx: DataContext, dataset: str, device: torch.device) -> float:
    """Accuracy on the dataset's test split."""
    model.eval()
    test = load_dataset(dataset, "test", ctx)
    predictions = score_set(lambda x: model.logits(x).argmax(1), test, device)
    _, labels = test.tensors()
    return (predictions.long() == labels).float().mean().item()


TRAINER = Trainer("classifier", Config, train)
