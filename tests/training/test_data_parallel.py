"""Data-parallel training: two gloo processes under torchrun train what one process trains.

The expectation (``ebmbench.training.loop``): with the same global batch, every random number (batch order,
buffer restarts and picks, Langevin noise, JEM's data noise) is drawn for the whole global batch and each
process keeps its rows, the replay buffer is replicated and DDP averages the gradients, so the two runs differ
only by the order of float additions. The per-step losses of 2 processes must match 1 process's within
``RTOL`` = 5e-6 relative (plus ``ATOL`` for losses near zero), and the final weights within ``WEIGHT_ATOL`` =
1e-6. Measured on this test's runs: losses at most 2.6e-7 relative apart over 8 steps, weights 1.2e-7. The
tolerances can fail: drawing each process's Langevin noise on its own instead of by global row moves the
EBM's losses 1e-5 to 3e-4 and the JEM's weights 7e-4.

One torchrun launch (2 CPU processes) runs: a conditional EBM with spectral norm, the cross-entropy term and
a weight average (losses recorded per step, each rank's weights and buffers digested), the same run interrupted
after its step-3 checkpoint and resumed, a JEM (data noise, warm-up), a Wide-ResNet JEM with BatchNorm, a classifier
trained by rank 0 alone through the model cache while the other rank waits, and ``ebmbench train`` itself.
The one-process references run here.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebmbench import distributed
from ebmbench.checkpoint import load_checkpoint
from ebmbench.errors import EbmbenchError
from ebmbench.options import build_options
from ebmbench.training.common import TrainRequest, trainer

RTOL, ATOL = 5e-6, 1e-7  # per-step losses, 2 processes against 1 (float addition order only)
WEIGHT_ATOL = 1e-6

EBM = {"width": "8", "batch_size": "32", "sample_steps": "3", "buffer_size": "64", "iterations": "8",
       "checkpoint_every": "3", "conditional": "true", "ce_coeff": "0.5", "spectral_norm": "true", "ema": "0.9"}
JEM = {"width": "8", "batch_size": "32", "sgld_steps": "3", "buffer_size": "64", "iterations": "6",
       "checkpoint_every": "3", "warmup": "3"}
JEM_BN = {"arch": "wrn", "depth": "10", "width": "1", "norm": "batch", "batch_size": "16", "sgld_steps": "2",
          "buffer_size": "32", "iterations": "3"}  # BatchNorm, and a head the loss does not use

SCRIPT = """
import json, sys, warnings
from pathlib import Path
import torch
from ebmbench import distributed, zoo
from ebmbench.options import build_options
from ebmbench.training import loop
from ebmbench.training.common import TrainRequest, trainer

warnings.simplefilter("ignore")
out, ebm, jem, jem_bn = Path(sys.argv[1]), *(json.loads(a) for a in sys.argv[2:5])
distributed.init("cpu")
curves, models, real_check, real_loop = {}, [], loop.check_divergence, loop.train_with_chains


def record(name, stop_at=None):
    def check(metrics, limit, step, *rest):
        if step == stop_at:
            raise KeyboardInterrupt
        curves.setdefault(name, []).append(metrics["loss"])
        real_check(metrics, limit, step, *rest)
    loop.check_divergence = check


def capture(config, req, recipe, *rest):
    models.append(recipe.model)
    return real_loop(config, req, recipe, *rest)


def train(family, settings, path, resume=False):
    module = trainer(family)
    import importlib
    importlib.import_module(f"ebmbench.training.{family}").train_with_chains = capture
    config = build_options(module.Config, settings)
    return module.train(config, TrainRequest(out / path, torch.device("cpu"), resume=resume, progress=False))


def digests(model):
    return [distributed.replicas_agree([t]) for t in model.state_dict().values()]


record("ebm")
train("ebm", ebm, "ebm.safetensors")
record("ebm-part", stop_at=4)
try:
    train("ebm", ebm, "ebm-part.safetensors")
except KeyboardInterrupt:
    pass
if distributed.is_main():
    import shutil
    shutil.copy(out / "ebm-part.safetensors", out / "ebm-step3.safetensors")
distributed.barrier()
record("ebm-resumed")
train("ebm", ebm, "ebm-part.safetensors", resume=True)
record("jem")
train("jem", jem, "jem.safetensors")
record("jem-bn")
train("jem", jem_bn, "jem-bn.safetensors")
same = {"ebm": digests(models[0]), "jem": digests(models[-2]), "jem-bn": digests(models[-1])}
if distributed.rank() == 1:  # the control: a changed weight on one rank must be seen
    with torch.no_grad():
        next(models[-1].parameters()).add_(1e-6)
control = distributed.replicas_agree(list(models[-1].state_dict().values()))
cached = zoo.cached_model("classifier", {"width": "8", "iterations": "3", "batch_size": "32"}, out / "cache",
                          torch.device("cpu"), progress=False)
alone = distributed.on_main(lambda: distributed.map_batches(3, lambda k: k * distributed.world_size()))
if distributed.is_main():
    (out / "result.json").write_text(json.dumps({"curves": curves, "same": same, "control": control,
                                                 "cached": str(cached), "alone": alone}))
from ebmbench.cli import main
main(["train", "--kind", "jem", "--out", str(out / "cli.safetensors"), "--quiet", "--device", "cpu",
      "--set", "width=8", "--set", "batch_size=32", "--set", "sgld_steps=2", "--set", "iterations=2"],
     prog_name="ebmbench")
"""


def _curve(family: str, settings: dict[str, str], out: Path, monkeypatch: pytest.MonkeyPatch,
           resume: bool = False) -> list[float]:
    """Train in this process, recording the loss of every step."""
    from ebmbench.training import loop

    losses: list[float] = []
    real = loop.check_divergence

    def check(metrics: dict[str, float], *rest: object) -> None:
        losses.append(metrics["loss"])
        real(metrics, *rest)

    monkeypatch.setattr(loop, "check_divergence", check)
    module = trainer(family)
    module.train(build_options(module.Config, settings),
                 TrainRequest(out, torch.device("cpu"), resume=resume, progress=False))
    monkeypatch.setattr(loop, "check_divergence", real)
    return losses


def _assert_curves_match(two: list[float], one: list[float]) -> None:
    assert len(two) == len(one) > 0
    for step, (a, b) in enumerate(zip(two, one, strict=True)):
        assert math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL), f"step {step}: {a} (2 processes) vs {b} (1)"


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ddp-train")
    script = out / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script),
           str(out), json.dumps(EBM), json.dumps(JEM), json.dumps(JEM_BN)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("wrote ") == 1  # rank 0 alone reports the CLI's checkpoint
    return out, json.loads((out / "result.json").read_text())


@pytest.mark.parametrize("family", ["ebm", "jem"])
def test_two_processes_follow_the_one_process_loss_curve(family: str, two_processes: tuple[Path, dict],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, result = two_processes
    settings = EBM if family == "ebm" else JEM
    one = _curve(family, settings, tmp_path / "one.safetensors", monkeypatch)
    _assert_curves_match(result["curves"][family], one)
    a, b = load_checkpoint(out / f"{family}.safetensors"), load_checkpoint(tmp_path / "one.safetensors")
    for key, value in a.model.state_dict().items():
        torch.testing.assert_close(value, b.model.state_dict()[key], rtol=0, atol=WEIGHT_ATOL, msg=key)
    assert a.training["world_size"] == 2 and a.training["backend"] == "gloo"
    assert b.training["world_size"] == 1 and b.training["backend"] is None


def test_ranks_hold_identical_weights_and_buffers(two_processes: tuple[Path, dict]) -> None:
    """Every tensor of the model (weights, spectral norm's power-iteration vectors, BatchNorm's running
    statistics, which each CPU rank updates with its own batch until rank 0's are broadcast) is bit-identical on
    both ranks after training; the check sees a change of 1e-6 in one weight on one rank."""
    out, result = two_processes
    for family in ("ebm", "jem", "jem-bn"):
        assert len(result["same"][family]) > 4 and all(result["same"][family]), family
    assert result["control"] is False
    assert load_checkpoint(out / "jem-bn.safetensors").training["world_size"] == 2


def test_resume_under_two_processes_is_bit_exact(two_processes: tuple[Path, dict]) -> None:
    out, result = two_processes
    full, resumed = load_checkpoint(out / "ebm.safetensors"), load_checkpoint(out / "ebm-part.safetensors")
    assert load_checkpoint(out / "ebm-step3.safetensors").training["step"] == 3
    assert resumed.training["step"] == full.training["step"] == 8
    for name, tensors in (("model", (full.model.state_dict(), resumed.model.state_dict())),
                          ("state", (full.state, resumed.state))):
        assert tensors[0].keys() == tensors[1].keys(), name
        for key in tensors[0]:
            assert torch.equal(tensors[0][key], tensors[1][key]), key
    assert result["curves"]["ebm-resumed"] == result["curves"]["ebm"][3:]


def test_one_process_resumes_a_two_process_checkpoint(two_processes: tuple[Path, dict], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The buffer and random streams are replicas, so another world size resumes the run where it stopped."""
    out, result = two_processes
    part = tmp_path / "part.safetensors"
    shutil.copy(out / "ebm-step3.safetensors", part)
    _assert_curves_match(result["curves"]["ebm"][3:], _curve("ebm", EBM, part, monkeypatch, resume=True))
    assert load_checkpoint(part).training["world_size"] == 1


def test_rank_zero_trains_cached_models_alone_and_the_cli_trains_data_parallel(
        two_processes: tuple[Path, dict]) -> None:
    """A model cache miss inside a data-parallel run is trained by rank 0 on its own (``main_first``: no
    collective waits for the other rank; likewise ``on_main``), and ``ebmbench train`` under torchrun writes a
    2-process JEM."""
    out, result = two_processes
    assert load_checkpoint(Path(result["cached"])).training["world_size"] == 1
    assert result["alone"] == [0, 1, 2]  # on_main's function works as one process too
    cli = load_checkpoint(out / "cli.safetensors")
    assert cli.training["world_size"] == 2 and cli.training["step"] == 2
    assert not list(out.rglob("*.tmp*"))


def test_global_batch_must_split_evenly(monkeypatch: pytest.MonkeyPatch) -> None:
    assert distributed.local_rows(32, "batch_size") == slice(0, 32)
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    monkeypatch.setattr(distributed, "rank", lambda: 3)
    assert distributed.local_rows(32, "batch_size") == slice(24, 32)
    with pytest.raises(EbmbenchError, match=r"^batch_size=30 is the global batch .* over 4 processes; use a "
                                            r"multiple of 4, e\.g\. --set batch_size=28 or 32$"):
        distributed.local_rows(30, "batch_size")


def test_torchrun_refuses_a_family_that_trains_in_one_process(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from ebmbench.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it; the refusal comes before joining any group
    result = CliRunner().invoke(main, ["train", "--kind", "classifier", "--out", str(tmp_path / "c.safetensors")])
    assert result.exit_code == 2 and not list(tmp_path.iterdir())
    assert result.output.splitlines() == ["error: train --kind classifier runs in one process; under torchrun only "
                                          "--kind ebm, jem train data-parallel: start this one without torchrun"]


def test_data_parallel_helpers_are_the_identity_in_one_process() -> None:
    x = torch.arange(6.0).reshape(3, 2)
    assert distributed.gather_rows(x) is x and distributed.backend() is None
    assert distributed.mean_over_ranks({"loss": 0.5}) == {"loss": 0.5}
    assert distributed.replicas_agree([x, torch.tensor(1.0), torch.zeros(0)])
