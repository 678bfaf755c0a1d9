"""The quality suite's buffer protocol can start from the replay buffer a checkpoint carries (an imported JEM's)."""

from pathlib import Path

import pytest
import torch

from ebmbench.checkpoint import load_checkpoint
from ebmbench.errors import EbmbenchError
from ebmbench.importers.jem import import_jem
from ebmbench.runner import run_suite
from ebmbench.suites.quality.sampling import SamplingPlan, draw_samples


@pytest.fixture
def jem_with_buffer(tmp_path: Path, jem_reference) -> tuple[Path, torch.Tensor]:
    buffer = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 2 - 1
    torch.save({"model_state_dict": jem_reference(channels=1).state_dict(), "replay_buffer": buffer},
               tmp_path / "jem.pt")
    return import_jem(tmp_path / "jem.pt", tmp_path / "jem.safetensors", dataset="digits"), buffer


def test_stored_start_draws_the_checkpoints_buffer(jem_with_buffer) -> None:
    path, buffer = jem_with_buffer
    model = load_checkpoint(path).model
    expected = torch.round((buffer + 1) / 2 * 255) / 255
    assert torch.allclose(model.stored_samples, expected, atol=1e-6)
    got = []
    plan = SamplingPlan(n=30, steps=0, protocol="buffer", rounds=0, buffer_size=30, buffer_start="stored")
    draw_samples(model, plan, torch.device("cpu"), seed=0, sink=lambda x, y: got.append(x))
    drawn = torch.cat(got)
    # 30 distinct buffer images (a seeded subset, no repeats), untouched by zero Langevin steps
    matches = [(expected.flatten(1) == img.flatten()).all(1).nonzero().flatten().tolist() for img in drawn]
    assert all(len(m) == 1 for m in matches) and len({m[0] for m in matches}) == 30


def test_stored_start_is_refused_where_it_cannot_apply(jem_with_buffer, tmp_path: Path, jem_reference) -> None:
    path, _ = jem_with_buffer
    with pytest.raises(EbmbenchError, match="goes with protocol=buffer"):
        run_suite("quality", path, tmp_path / "a", ["buffer_start=stored"], device="cpu", progress=False)
    torch.save({"model_state_dict": jem_reference(channels=1).state_dict()}, tmp_path / "nobuf.pt")
    bare = import_jem(tmp_path / "nobuf.pt", tmp_path / "nobuf.safetensors", dataset="digits")
    assert load_checkpoint(bare).model.stored_samples is None
    with pytest.raises(EbmbenchError, match="carries a replay buffer"):
        run_suite("quality", bare, tmp_path / "b", ["buffer_start=stored", "protocol=buffer"], device="cpu",
                  progress=False)
