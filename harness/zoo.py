"""Models trained on first use and cached, keyed by their full training config (never by a bare name), so the
quickstart and default baselines reuse what they trained and retrain when anything that matters changes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ebmbench import __version__
from ebmbench.data.base import DataContext
from ebmbench.errors import CheckpointError
from ebmbench.options import build_options
from ebmbench.training.common import TrainRequest, trainer


def cache_key(family: str, config: Any) -> str:
    """A short content hash of the family, its resolved config and the ebmbench version."""
    blob = json.dumps({"family": family, "config": asdict(config), "version": __version__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_model(family: str, settings: dict[str, Any], cache_dir: Path, device: torch.device,
                 data: DataContext | None = None, progress: bool = True) -> Path:
    """The checkpoint of ``family`` trained with ``settings``: from the cache, or trained now (resumably).

    Under torchrun, rank 0 trains while the other ranks wait, then they find it in the (shared) cache.
    """
    from ebmbench import distributed

    progress = progress and distributed.is_main()  # before main_first: inside it each rank works alone
    with distributed.main_first():
        return _cached_model(family, settings, cache_dir, device, data, progress)


def _cached_model(family: str, settings: dict[str, Any], cache_dir: Path, device: torch.device,
                  data: DataContext | None, progress: bool) -> Path:
    module = trainer(family)
    config = build_options(module.Config, settings)
    path = Path(cache_dir) / "models" / f"{family}-{config.dataset}-{cache_key(family, config)}.safetensors"
    if _complete(path, config):
        return path
    req = TrainRequest(out=path, device=device, resume=path.exists(), progress=progress)
    return module.train(config, req, data)


def _complete(path: Path, config: Any) -> bool:
    """True when ``path`` holds a checkpoint that finished all its iterations."""
    from ebmbench.checkpoint import read_header

    if not path.exists():
        return False
    try:
        header = read_header(path)
    except CheckpointError:
        path.unlink()
        return False
    return int(header.get("training", {}).get("step", -1)) >= int(getattr(config, "iterations", 0))
