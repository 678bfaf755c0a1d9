"""``inception-v3-compat``: torch-fidelity's port of the TensorFlow Inception network, the standard for papers.

The weights come from ``--set inception_weights=PATH``, from torch-fidelity's own download location
(``$TORCH_HOME/hub/checkpoints``) or from ebmbench's cache (``<cache>/weights``). Only with ``--download`` does
ebmbench fetch them, once, from torch-fidelity's release, checked against their SHA-256 before they are cached;
without it a missing file is one line that says to add ``--download`` or give the path. The file is checked to
be a plain tensor state dict (loaded with ``weights_only=True``) before torch-fidelity reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch

from ebmbench.errors import EbmbenchError
from ebmbench.extractors.base import Extractor
from ebmbench.fetch import Remote, cached, fetch

NAME = "inception-v3-compat"
FILENAME = "weights-inception-2015-12-05-6726825d.pth"
URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{FILENAME}"
# torch-fidelity 0.4's URL_INCEPTION_V3; the file's SHA-256 begins with the 6726825d that torch.hub's naming
# convention puts in the file name (95,628,359 bytes)
REMOTE = Remote(URL, "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", FILENAME,
                "torch-fidelity's Inception weights", 95_628_359)
LAYERS = {"isc": "logits_unbiased", "fid": "2048", "kid": "2048", "prc": "2048"}


def default_location() -> Path:
    """Where torch-fidelity keeps the weights after its own download."""
    return Path(torch.hub.get_dir()) / "checkpoints" / FILENAME


class InceptionExtractor(Extractor):
    """The ebmbench spec of ``inception-v3-compat``: any image size, grey images repeated to three channels."""

    name: ClassVar[str] = NAME
    layers: ClassVar[dict[str, str]] = LAYERS
    _validated: ClassVar[set[str]] = set()

    remote: ClassVar[Remote] = REMOTE

    def weights_path(self) -> Path:
        if self.weights is not None:
            if not self.weights.is_file():
                raise EbmbenchError(f"Inception weights {FILENAME} not found at {self.weights} (the file given by "
                                    "inception_weights)")
            path = self.weights
        elif default_location().is_file():
            path = default_location()
        elif self.cache_dir is None:
            raise EbmbenchError(f"Inception weights {FILENAME} not found at {default_location()}; add --download "
                                f"to fetch them once from {URL} (SHA-256 checked) or pass --set "
                                "inception_weights=PATH")
        else:
            path = self._fetched()
        self._validate(path)
        return path

    def _fetched(self) -> Path:
        """The cached copy, downloaded first with --download; the error without it says to add it."""
        try:
            return fetch(self.remote, self.cache_dir, self.download)
        except EbmbenchError as exc:
            if self.download or cached(self.remote, self.cache_dir).is_file():
                raise
            raise EbmbenchError(f"Inception weights {FILENAME} not found (looked in {default_location()} and "
                                f"{cached(self.remote, self.cache_dir).parent}); add --download to fetch them once "
                                f"from {URL} (SHA-256 checked) or pass --set inception_weights=PATH") from exc

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
