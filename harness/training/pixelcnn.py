"""Train a PixelCNN++ by maximum likelihood of the discretized images; the checkpoint records test bits/dim.

The defaults train a small one-resolution PixelCNN++ on the bundled digits in well under a minute on a CPU;
for CIFAR-10 scale use e.g. ``--set filters=160 --set nr_resnet=5 --set resolutions=3 --set nr_mix=10
--set dropout=0.5 --set batch_size=16 --set iterations=500000`` (Salimans et al.'s configuration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ebmbench.data.base import DataContext, ImageSet
from ebmbench.models.base import ModelInfo
from ebmbench.models.pixelcnn import PixelCNN
from ebmbench.options import check_ranges
from ebmbench.training.common import TrainRequest
from ebmbench.training.density import resolve_bins, train_density


@dataclass(frozen=True)
class Config:
    """PixelCNN++ training options (``--set key=value``): ``filters`` channels per stream, ``nr_resnet`` gated
    blocks per resolution and direction, ``resolutions`` (1 = no down/up-sampling), ``nr_mix`` logistics per
    pixel over ``bins`` levels (0: the levels the training data lies on)."""

    dataset: str = "digits"
    filters: int = 16
    nr_resnet: int = 1
    resolutions: int = 1
    nr_mix: int = 5
    dropout: float = 0.0
    bins: int = 0
    iterations: int = 300
    batch_size: int = 64
    lr: float = 2e-3
    warmup: int = 20
    grad_clip: float = 100.0
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        check_ranges(self, at_least_one=("filters", "nr_resnet", "resolutions", "nr_mix", "iterations", "batch_size",
                                         "checkpoint_every"),
                     positive=("lr",), non_negative=("warmup", "bins", "dropout"))


def build(config: Config, data: ImageSet) -> PixelCNN:
    """A PixelCNN++ for ``data``'s image shape (the data's labels are not used)."""
    from ebmbench.errors import EbmbenchError

    _, h, w = data.shape
    factor = 2 ** (config.resolutions - 1)
    if h % factor or w % factor:
        raise EbmbenchError(f"pixelcnn with resolutions={config.resolutions} needs image sides divisible by "
                            f"{factor}; {config.dataset} is {h}x{w}: lower resolutions")
    info = ModelInfo(family="pixelcnn", dataset=config.dataset, input_shape=data.shape,
                     num_classes=data.num_classes)
    arch = {"filters": config.filters, "nr_resnet": config.nr_resnet, "resolutions": config.resolutions,
            "nr_mix": config.nr_mix, "dropout": config.dropout, "bins": resolve_bins(config.bins, data)}
    return PixelCNN(info, arch)


def _objective(model: PixelCNN, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return model.log_prob(x)


def train(config: Config, req: TrainRequest, data: DataContext | None = None) -> Path:
    """Train (or resume) a PixelCNN++ and write its checkpoint (with test bits/dim) to ``req.out``."""
    return train_density(config, req, data, "pixelcnn", build, _objective)
