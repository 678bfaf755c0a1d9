"""The extractor spec every feature extractor meets, and the conversion of images to the uint8 form that
torch-fidelity's extractors take."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch

from ebmbench.errors import EbmbenchError

METRICS: tuple[str, ...] = ("isc", "fid", "kid", "prc")


def to_uint8(x: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Images in ``value_range`` as uint8 in 0..255 (rounded), the way a saved PNG would store them."""
    lo, hi = value_range
    return ((x.detach().float() - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    from ebmbench.checkpoint import file_sha256

    return file_sha256(path)


def weights_sha256(path: Path) -> str:
    """SHA-256 of a weights file (memoised per path, size and modification time)."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


class Extractor(ABC):
    """A torch-fidelity feature extractor with known weights.

    ``name`` is both the ebmbench name and the torch-fidelity registry name; ``layers`` maps each metric to the
    feature layer it reads. ``check_input`` and ``weights_path`` raise one-line errors before any long work.
    """

    name: ClassVar[str]
    layers: ClassVar[dict[str, str]]

    def __init__(self, weights: str | Path | None = None, download: bool = False,
                 cache_dir: Path | None = None) -> None:
        self.weights = None if weights is None else Path(weights).expanduser()
        self.download = download  # whether missing weights may be fetched (only with --download)
        self.cache_dir = cache_dir  # where fetched weights are kept

    @abstractmethod
    def weights_path(self) -> Path:
        """The weights file to use; a one-line EbmbenchError naming the file when it is missing."""

    @abstractmethod
    def check_input(self, shape: tuple[int, int, int]) -> None:
        """Refuse images of a shape this extractor cannot read (EbmbenchError)."""

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images of the data's shape -> the input this extractor takes (default: unchanged)."""
        return x

    def sha256(self) -> str:
        return weights_sha256(self.weights_path())

    def describe(self) -> dict[str, Any]:
        """What goes into every result row and every cache key: name, weights hash, layers."""
        return {"extractor": self.name, "extractor_sha256": self.sha256(), "layers": dict(self.layers)}

    def fidelity_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that make ``torch_fidelity.calculate_metrics`` use this very extractor."""
        return {"feature_extractor": self.name, "feature_extractor_weights_path": str(self.weights_path())}

    def build(self, metrics: tuple[str, ...], device: torch.device | str = "cpu") -> Any:
        """The torch-fidelity extractor module producing the layers ``metrics`` need, on ``device``."""
        from torch_fidelity.utils import create_feature_extractor

        self.register()
        layers = sorted({self.layers[m] for m in metrics})
        module = create_feature_extractor(self.name, layers, cuda=False, verbose=False, **self.fidelity_kwargs())
        return module.to(device)

    def register(self) -> None:  # noqa: B027 - a hook: built-in torch-fidelity extractors need nothing
        """Make ``name`` known to torch-fidelity (built-in extractors already are)."""


def make_extractor(name: str, weights: str | Path | None = None, download: bool = False,
                   cache_dir: Path | None = None) -> Extractor:
    """The registered extractor ``name`` (see ``ebmbench.registries.EXTRACTORS``) with optional weights; with
    ``download``, weights it knows how to fetch are fetched into ``cache_dir`` when missing."""
    from ebmbench.registries import EXTRACTORS

    cls = EXTRACTORS.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Extractor)):
        raise EbmbenchError(f"feature extractor {name!r} is not an ebmbench Extractor")
    return cls(weights, download, cache_dir)
