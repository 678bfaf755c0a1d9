"""Shared fixtures: tiny models and checkpoints that every test package can use (CPU, seconds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    from ebmbench.training.common import trainer

    module = trainer(family)
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


# ---- hostile inputs: every refusal is one line, exit 2, no traceback, and touches nothing -----------------
def tree_snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root``: file bytes, link targets, "dir" for folders (what a refusal must not change)."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[key] = f"-> {path.readlink()}"
        elif path.is_dir():
            out[key] = "dir"
        elif path.is_file():
            out[key] = path.read_bytes()
        else:
            out[key] = "special"
    return out


def assert_one_line_refusal(result: Any, *needles: str) -> str:
    """A CliRunner result that refused its input: exit 2, exactly one line ``error: ...`` on stderr, no
    traceback anywhere; returns that line (lower-cased needles must all occur in it)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle.lower() in lines[0].lower(), (needle, lines[0])
    return lines[0]


@pytest.fixture
def refused() -> Callable[..., str]:
    """``refused(args, *needles, root=None, allowed=())``: run the ebmbench CLI, assert a one-line refusal,
    and that nothing under ``root`` changed except the paths in ``allowed``."""
    from click.testing import CliRunner

    from ebmbench.cli import main

    def run(args: list[str], *needles: str, root: Path | None = None, allowed: tuple[str, ...] = ()) -> str:
        before = tree_snapshot(root) if root is not None else {}
        result = CliRunner().invoke(main, [str(a) for a in args])
        line = assert_one_line_refusal(result, *needles)
        if root is not None:
            after = tree_snapshot(root)
            for name in allowed:
                before.pop(name, None)
                after.pop(name, None)
            assert before == after, sorted(set(before) ^ set(after)) or "a file's content changed"
        return line

    return run


@pytest.fixture(scope="session")
def jem_reference() -> Callable[..., torch.nn.Module]:
    """``fixed_reference(**kw)``: JEM's CCF model written out independently of ebmbench's WRN, with fixed random
    weights (tests/importers/reference_jem.py, loaded by path: a top-level ``tests`` package of a dependency
    must not shadow it)."""
    import importlib.util

    path = Path(__file__).parent / "importers" / "reference_jem.py"
    spec = importlib.util.spec_from_file_location("ebmbench_tests_reference_jem", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fixed_reference
