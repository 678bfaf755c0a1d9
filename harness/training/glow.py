"""Train a Glow on uniformly dequantized images by maximum likelihood; the checkpoint records test bits/dim.

The defaults train a small two-scale Glow on the bundled digits in well under a minute on a CPU; for CIFAR-10
scale use e.g. ``--set levels=3 --set steps=32 --set hidden=512 --set iterations=100000`` (Kingma & Dhariwal
use three levels of 32 steps with 512 hidden channels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ebmbench.data.base import DataContext, ImageSet
from ebmbench.models.base import ModelInfo
from ebmbench.models.glow import Glow
from ebmbench.options import check_ranges, option
from ebmbench.training.common import Trainer, TrainRequest
from ebmbench.training.density import DensityConfig, resolve_bins, train_density


@dataclass(frozen=True)
class Config(DensityConfig):
    """Glow training options (``--set key=value``): the shared likelihood-training ones and the architecture."""

    levels: int = option(2, help="scales (levels) of the multi-scale flow")
    steps: int = option(4, help="flow steps (actnorm, 1x1 convolution, coupling) per level")
    hidden: int = option(32, help="channels of the coupling networks")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, at_least_one=("levels", "steps", "hidden"))


def build(config: Config, data: ImageSet) -> Glow:
    """A Glow for ``data``'s image shape (the data's labels are not used)."""
    from ebmbench.errors import EbmbenchError

    _, h, w = data.shape
    if h % 2**config.levels or w % 2**config.levels:
        raise EbmbenchError(f"glow with levels={config.levels} needs image sides divisible by {2**config.levels}; "
                            f"{config.dataset} is {h}x{w}: lower levels")
    info = ModelInfo(family="glow", dataset=config.dataset, input_shape=data.shape, num_classes=data.num_classes)
    arch = {"levels": config.levels, "steps": config.steps, "hidden": config.hidden,
            "bins": resolve_bins(config.bins, data)}
    return Glow(info, arch)


def _objective(model: Glow, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return model.train_log_prob(x, gen)


def train(config: Config, req: TrainRequest, data: DataContext | None = None) -> Path:
    """Train (or resume) a Glow and write its checkpoint (with test bits/dim) to ``req.out``."""
    return train_density(config, req, data, "glow", build, _objective)


TRAINER = Trainer("glow", Config, train)
