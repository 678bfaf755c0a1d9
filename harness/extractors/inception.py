"""``inception-v3-compat``: torch-fidelity's port of the TensorFlow Inception network, the standard for papers.

ebmbench never downloads its weights. They come from ``--set inception_weights=PATH`` or from torch-fidelity's
own download location (``$TORCH_HOME/hub/checkpoints``); when neither holds the file, the run stops with one line
that names it and says where to put it. The file is checked to be a plain tensor state dict (loaded with
``weights_only=True``) before torch-fidelity reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from ebmbench.errors import EbmbenchError
from ebmbench.extractors.base import Extractor

NAME = "inception-v3-compat"
FILENAME = "weights-inception-2015-12-05-6726825d.pth"
URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{FILENAME}"
LAYERS = {"isc": "logits_unbiased", "fid": "2048", "kid": "2048", "prc": "2048"}


def default_location() -> Path:
    """Where torch-fidelity keeps the weights after its own download."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FILENAME


class InceptionExtractor(Extractor):
    """The ebmbench spec of ``inception-v3-compat``: any image size, grey images repeated to three channels."""

    name: ClassVar[str] = NAME
    layers: ClassVar[dict[str, str]] = LAYERS
    _validated: ClassVar[set[str]] = set()

    def weights_path(self) -> Path:
        path = self.weights or default_location()
        if not path.is_file():
            given = "the file given by inception_weights" if self.weights else "torch-fidelity's cache"
            raise EbmbenchError(f"Inception weights {FILENAME} not found at {path} ({given}); ebmbench does not "
                                f"download them: fetch {URL} and put it at {default_location()} or pass "
                                "--set inception_weights=PATH")
        self._validate(path)
        return path

    def _validate(self, path: Path) -> None:
        key = str(path.resolve())
        if key in self._validated:
            return
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unreadable or unsafe file gets the same one-line answer
            raise EbmbenchError(f"{path} is not a usable Inception state dict ({type(exc).__name__}); "
                                f"it should be torch-fidelity's {FILENAME}") from None
        if not isinstance(state, dict) or "fc.weight" not in state:
            raise EbmbenchError(f"{path} does not hold Inception weights; it should be torch-fidelity's {FILENAME}")
        self._validated.add(key)

    def check_input(self, shape: tuple[int, int, int]) -> None:
        if shape[0] not in (1, 3):
            raise EbmbenchError(f"the Inception extractor reads grey or RGB images, not {shape[0]} channels")

    def adapt(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
