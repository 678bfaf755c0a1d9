"""``digits-cnn``: ebmbench's fixed feature extractor for the 8x8 digits.

A small classifier trained once on the digits' train split (``python -m ebmbench.extractors.train_digits_cnn``)
and shipped with the package, so quality numbers stay comparable between runs and machines. IS reads its class
logits; FID, KID and precision/recall read its 64 penultimate features, standardised with the train split's
per-feature mean and standard deviation (stored with the weights) so KID's polynomial kernel sees values of
order one, as it does with Inception features.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.helpers import vassert

from ebmbench.errors import EbmbenchError
from ebmbench.extractors.base import Extractor

NAME = "digits-cnn"
INPUT_SHAPE = (1, 8, 8)
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "assets" / "digits_cnn.safetensors"
LAYERS = {"isc": "logits", "fid": "features", "kid": "features", "prc": "features"}


class DigitsCNN(nn.Module):
    """Three convolutions (8x8 -> 2x2), a 64-unit feature layer and a 10-way linear head."""

    def __init__(self, width: int = 32, features: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * width * 4, features), nn.ReLU())
        self.head = nn.Linear(features, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def save_weights(path: Path, net: DigitsCNN, mean: torch.Tensor, std: torch.Tensor, meta: dict[str, Any]) -> None:
    """Weights, feature normalisation and a JSON description in one safetensors file."""
    from safetensors.torch import save_file

    tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tensors.update(feature_mean=mean.detach().cpu().contiguous(), feature_std=std.detach().cpu().contiguous())
    save_file(tensors, str(path), metadata={"ebmbench-extractor": json.dumps(meta, sort_keys=True)})


def load_weights(path: Path) -> tuple[DigitsCNN, torch.Tensor, torch.Tensor]:
    """The network and its feature mean and std from a weights file (safetensors: nothing is unpickled)."""
    tensors = load_file(str(path))
    net = DigitsCNN()
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    return net, tensors["feature_mean"], tensors["feature_std"]


class DigitsCNNFeatureExtractor(FeatureExtractorBase):
    """The torch-fidelity side: uint8 images B x 1 x 8 x 8 in, (standardised features, logits) out."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, features_list)
        net, mean, std = load_weights(Path(feature_extractor_weights_path or DEFAULT_WEIGHTS))
        self.net = net
        self.register_buffer("feature_mean", mean)
        self.register_buffer("feature_std", std)
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return "features", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return LAYERS[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros((1, *INPUT_SHAPE), dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        vassert(torch.is_tensor(x) and x.dtype == torch.uint8, "Expecting image as torch.Tensor with dtype=torch.uint8")
        vassert(x.dim() == 4 and tuple(x.shape[1:]) == INPUT_SHAPE, f"Input is not Bx1x8x8: {tuple(x.shape)}")
        h = self.net.body(x.float() / 255)
        out = {"features": (h - self.feature_mean) / self.feature_std, "logits": self.net.head(h)}
        return tuple(out[k] for k in self.features_list)


class DigitsCNNExtractor(Extractor):
    """The ebmbench spec of ``digits-cnn``: shipped weights (or ``weights``), 1x8x8 inputs only."""

    name: ClassVar[str] = NAME
    layers: ClassVar[dict[str, str]] = LAYERS

    def weights_path(self) -> Path:
        path = self.weights or DEFAULT_WEIGHTS
        if not path.is_file():
            raise EbmbenchError(f"digits-cnn weights not found at {path}; reinstall ebmbench or rebuild them with "
                                "`python -m ebmbench.extractors.train_digits_cnn`")
        return path

    def check_input(self, shape: tuple[int, int, int]) -> None:
        if tuple(shape) != INPUT_SHAPE:
            raise EbmbenchError(f"the digits-cnn extractor reads 1x8x8 images (the digits), not "
                                f"{'x'.join(map(str, shape))}; use --set extractor=inception-v3-compat")

    def register(self) -> None:
        register()


def register() -> None:
    """Register ``digits-cnn`` with torch-fidelity once (``calculate_metrics(feature_extractor='digits-cnn')``)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(NAME, DigitsCNNFeatureExtractor)


register()
