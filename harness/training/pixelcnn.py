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
from ebmbench.options import check_ranges, option
from ebmbench.training.common import Trainer, TrainRequest
from ebmbench.training.density import DensityConfig, resolve_bins, train_density


@dataclass(frozen=True)
class Config(DensityConfig):
    """PixelCNN++ training options (``--set key=value``): the shared likelihood-training ones and the
    architecture."""

    grad_clip: float = option(100.0, help="gradient-norm clipping")
    filters: int = option(16, help="channels per stream")
    nr_resnet: int = option(1, help="gated residual blocks per resolution and direction")
    resolutions: int = option(1, help="resolutions (1: no down/up-sampling)")
    nr_mix: int = option(5, help="logistic mixture components per pixel")
    dropout: float = option(0.0, help="dropout in the gated blocks")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(self, at_least_one=("filters", "nr_resnet", "resolutions", "nr_mix"),
                     non_negative=("dropout",))


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


TRAINER = Trainer("pixelcnn", Config, train)
