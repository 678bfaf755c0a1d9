"""Shared fixtures: tiny models and checkpoints that every test package can use (CPU, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ebmbench.checkpoint import save_checkpoint
from ebmbench.models.base import ModelInfo
from ebmbench.models.dummy import QuadraticEnergy
from ebmbench.training.common import TrainRequest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test's model cache and data root out of the user's home."""
    monkeypatch.setenv("EBMBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("EBMBENCH_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    torch.set_num_threads(1)


def _train(family: str, out: Path, **settings: object) -> Path:
    from ebmbench.options import build_options
    from ebmbench.training.common import trainer_module

    module = trainer_module(family)
    config = build_options(module.Config, {k: v for k, v in settings.items()})
    return module.train(config, TrainRequest(out=out, device=torch.device("cpu"), progress=False))


@pytest.fixture(scope="session")
def tiny_ebm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unconditional digits EBM after a few training steps (weights are meaningful only as a shape)."""
    out = tmp_path_factory.mktemp("ckpt") / "ebm.safetensors"
    return _train("ebm", out, width=8, iterations=3, batch_size=32, sample_steps=3, buffer_size=64)


@pytest.fixture(scope="session")
def tiny_cond_ebm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-conditional digits EBM after a few training steps."""
    out = tmp_path_factory.mktemp("ckpt") / "cebm.safetensors"
    return _train("ebm", out, width=8, iterations=3, batch_size=32, sample_steps=3, buffer_size=64,
                  conditional=True)


@pytest.fixture(scope="session")
def tiny_classifier_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A digits classifier after a short training run (well above chance)."""
    out = tmp_path_factory.mktemp("ckpt") / "clf.safetensors"
    return _train("classifier", out, width=8, iterations=60, batch_size=64)


@pytest.fixture
def dummy_path(tmp_path: Path) -> Path:
    """A checkpoint of the Gaussian dummy energy on digits' shape."""
    info = ModelInfo(family="dummy", dataset="digits", input_shape=(1, 8, 8))
    return save_checkpoint(tmp_path / "dummy.safetensors", QuadraticEnergy(info, {"mean": 0.3, "std": 0.2}))
