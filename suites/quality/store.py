"""Where the quality suite keeps things: saved samples in the run directory, and a cache keyed by content.

Every cache entry is named by the SHA-256 of a JSON description of everything that produced it (model weights,
dataset and split, N, seed, sampler settings, extractor and weights hash, device type) and carries that
description, which is checked on reading; nothing is keyed by a bare name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ebmbench.atomic import atomic_copy, atomic_path, atomic_write_text

KEY_FIELD = "ebmbench-quality-key"


def content_key(description: dict[str, Any]) -> str:
    """A short hash of a JSON-able description (sorted keys)."""
    blob = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of tensors' bytes (CPU, contiguous), e.g. of a set of uint8 images."""
    digest = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(str((tuple(t.shape), str(t.dtype))).encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def model_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's description and weights: the same weights give the same key wherever they live."""
    digest = hashlib.sha256()
    info = getattr(model, "info", None)
    digest.update(json.dumps({"family": getattr(model, "family", type(model).__name__),
                              "info": info.to_dict() if info is not None else None,
                              "config": getattr(model, "config", None)}, sort_keys=True, default=str).encode())
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor_digest(value).encode())
    return digest.hexdigest()


class FeatureCache:
    """Features (a dict of tensors) stored under ``root`` by content key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, description: dict[str, Any]) -> Path:
        return self.root / f"features-{content_key(description)}.safetensors"

    def get(self, description: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        path = self._path(description)
        if not path.is_file():
            return None
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as fh:
                stored = json.loads((fh.metadata() or {}).get(KEY_FIELD, "null"))
            if stored != json.loads(json.dumps(description, default=str)):
                return None
            return load_file(str(path))
        except Exception:  # a corrupt entry is a miss, and is rewritten
            return None

    def put(self, description: dict[str, Any], features: dict[str, torch.Tensor]) -> None:
        path = self._path(description)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.contiguous() for k, v in features.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={KEY_FIELD: json.dumps(description, sort_keys=True, default=str)})


class MetricCache:
    """Metric values (a dict of floats) stored under ``root`` by content key. For the reference rows (held-out
    split, uniform noise): their scores depend on fixed images, the reference and the settings, never on the
    model, so every later run on the same data reuses them instead of recomputing KID's subsets and the rest."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, description: dict[str, Any]) -> Path:
        return self.root / f"metrics-{content_key(description)}.json"

    def get(self, description: dict[str, Any]) -> dict[str, float] | None:
        path = self._path(description)
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):  # absent or corrupt: a miss
            return None
        if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(description, default=str)):
            return None
        return {k: float(v) for k, v in stored["values"].items()}

    def put(self, description: dict[str, Any], values: dict[str, float]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        blob = {"key": description, "values": {k: float(v) for k, v in values.items()}}
        atomic_write_text(self._path(description), json.dumps(blob, sort_keys=True, default=str) + "\n")


class SampleFile:
    """Samples as a uint8 ``.npy`` array written batch by batch (memory does not grow with N), with their labels.

    The file appears under its final name only when complete.
    """

    def __init__(self, path: Path, n: int, shape: tuple[int, int, int], conditional: bool) -> None:
        self.path, self.n = Path(path), n
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._atomic = atomic_path(self.path)  # held open while batches arrive; renamed into place by close()
        self.tmp = self._atomic.__enter__()
        self.images = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.uint8, shape=(n, *shape))
        self.labels = np.full(n, -1, dtype=np.int64) if conditional else None
        self.cursor = 0

    def write(self, images: torch.Tensor, labels: torch.Tensor | None) -> None:
        end = self.cursor + len(images)
        self.images[self.cursor:end] = images.cpu().numpy()
        if self.labels is not None and labels is not None:
            self.labels[self.cursor:end] = labels.cpu().numpy()
        self.cursor = end

    def close(self) -> Path:
        self.images.flush()
        del self.images
        self._atomic.__exit__(None, None, None)
        if self.labels is not None:
            np.save(labels_path(self.path), self.labels)
        return self.path


def labels_path(samples: Path) -> Path:
    return samples.with_name(samples.stem + "-labels.npy")


def read_samples(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Saved samples (memory-mapped uint8 array) and their labels, if any."""
    images = np.load(path, mmap_mode="r")
    lpath = labels_path(path)
    return images, (np.load(lpath) if lpath.is_file() else None)


class SampleCache:
    """Finished sample files (and their energy traces) kept under ``root`` by content key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _base(self, description: dict[str, Any]) -> Path:
        return self.root / f"samples-{content_key(description)}"

    def get(self, description: dict[str, Any], dest: Path) -> dict[str, Any] | None:
        """Copy a cached sample file to ``dest``; returns its stored trace, or None on a miss."""
        base = self._base(description)
        meta_path, npy = base.with_suffix(".json"), base.with_suffix(".npy")
        if not (meta_path.is_file() and npy.is_file()):
            return None
        meta = json.loads(meta_path.read_text())
        if meta.get("key") != json.loads(json.dumps(description, default=str)):
            return None
        atomic_copy(npy, dest)
        if labels_path(npy).is_file():
            atomic_copy(labels_path(npy), labels_path(dest))
        return meta["trace"]

    def put(self, description: dict[str, Any], samples: Path, trace: dict[str, Any]) -> None:
        base = self._base(description)
        base.parent.mkdir(parents=True, exist_ok=True)
        atomic_copy(samples, base.with_suffix(".npy"))
        if labels_path(samples).is_file():
            atomic_copy(labels_path(samples), labels_path(base.with_suffix(".npy")))
        meta = json.dumps({"key": description, "trace": trace}, sort_keys=True, default=str)
        atomic_write_text(base.with_suffix(".json"), meta)
