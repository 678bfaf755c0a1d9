"""The CUDA code paths, on a GPU (skipped without one; `pytest -m gpu` on a machine with CUDA, or
`benchmarks/gpu_check.sh` on a lent device). Each check compares the GPU result with the same computation on CPU
or with the plain chain, so a device-only slip (a CPU-only tensor, a generator on the wrong device, a layout
lever that changes the update) fails here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ebmbench.sampler import LangevinConfig, accelerated_energy, langevin, make_generator

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.SiLU(),
                               torch.nn.Conv2d(32, 32, 3, stride=2, padding=1), torch.nn.SiLU(),
                               torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 1), torch.nn.Flatten(0))


def _chain(net: torch.nn.Module, x0: torch.Tensor, seed: int = 3, **levers: object) -> torch.Tensor:
    return langevin(lambda x, _y: net(x), x0, LangevinConfig(steps=5, noise=0.05),
                    generator=make_generator(seed, x0.device), model=net, **levers).x


def test_chains_on_cuda_repeat_and_every_lever_keeps_the_update() -> None:
    net = _net().cuda()
    x0 = torch.rand(64, 3, 32, 32, device="cuda")
    plain = _chain(net, x0)
    assert plain.is_cuda and torch.equal(plain, _chain(net, x0))  # seeded CUDA generator: the same chain
    assert not torch.equal(plain, _chain(net, x0, seed=4))
    assert torch.equal(_chain(net, x0, inplace=True), plain)
    torch.testing.assert_close(_chain(net, x0, inplace=True, channels_last=True), plain, rtol=0, atol=1e-4)
    assert torch.equal(_chain(net, x0, micro_batch="auto"), plain)  # whole batches on accelerators
    torch.testing.assert_close(_chain(net, x0, micro_batch=16), plain, rtol=0, atol=1e-4)


def test_cuda_chain_matches_the_cpu_chain_given_the_same_noise() -> None:
    net = _net()
    x0 = torch.rand(16, 3, 32, 32)
    cfg = LangevinConfig(steps=3, noise=0.0)  # noise streams differ between devices; the update must not
    cpu = langevin(lambda x, _y: net(x), x0, cfg, model=net).x
    net.cuda()
    gpu = langevin(lambda x, _y: net(x), x0.cuda(), cfg, model=net).x
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-4)


def test_bf16_autocast_and_compile_on_cuda() -> None:
    net = _net().cuda()
    x = torch.rand(32, 3, 32, 32, device="cuda")
    bf16 = accelerated_energy(net, autocast=torch.bfloat16)
    assert bf16(x).dtype == torch.float32
    torch.testing.assert_close(bf16(x), net(x), rtol=5e-2, atol=5e-2)
    out = langevin(lambda z, _y: bf16(z), x, LangevinConfig(steps=3), generator=make_generator(0, "cuda"),
                   model=net).x
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1
    compiled = accelerated_energy(net, compile=True)
    torch.testing.assert_close(compiled(x), net(x), rtol=1e-4, atol=1e-4)


def _records(run_dir: Path) -> dict[tuple[str, str], float]:
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return {(r["eval_set"], r["metric"]): float(r["value"]) for r in rows}


@pytest.mark.parametrize(("suite", "settings"), [
    ("energy", ["noise_n=64", "batch_size=32"]),
    ("quality", ["n=60", "steps=0,5", "kid_subsets=5", "isc_splits=2", "batch_size=32"]),
    ("quality", ["n=60", "steps=5", "kid_subsets=5", "isc_splits=2", "batch_size=32", "precision=bfloat16"]),
    ("robustness", ["n=16", "linf_eps=0,0.05", "l2_eps=0,0.5", "steps=2", "eot=1", "draws=1", "purify_steps=2",
                    "square_queries=5"]),
])
def test_suites_run_on_cuda_with_the_cpu_records(tiny_cond_ebm_path: Path, tmp_path: Path, suite: str,
                                                 settings: list[str]) -> None:
    from ebmbench.runner import run_suite

    gpu = run_suite(suite, tiny_cond_ebm_path, tmp_path / "gpu", settings, device="cuda", progress=False)
    cpu = run_suite(suite, tiny_cond_ebm_path, tmp_path / "cpu", settings, device="cpu", progress=False)
    got, want = _records(gpu.path), _records(cpu.path)
    assert got.keys() == want.keys() and got
    # noise streams differ between devices, so sampled metrics differ by sampling noise: the same records,
    # finite (or not) alike, and values within the metrics' own ranges
    assert {k for k, v in got.items() if math.isfinite(v)} == {k for k, v in want.items() if math.isfinite(v)}
    rates = [k for k in got if k[1] in ("accuracy", "auroc", "robust_accuracy") and math.isfinite(got[k])]
    assert all(0.0 <= got[k] <= 1.0 for k in rates)


def test_training_on_cuda(tmp_path: Path) -> None:
    from ebmbench.checkpoint import load_checkpoint
    from ebmbench.options import build_options
    from ebmbench.training.common import TrainRequest, trainer

    module = trainer("ebm")
    config = build_options(module.Config, {"width": 8, "iterations": 5, "batch_size": 32, "sample_steps": 3,
                                           "buffer_size": 64, "conditional": True, "ema": 0.99})
    out = module.train(config, TrainRequest(out=tmp_path / "m.safetensors", device=torch.device("cuda"),
                                            progress=False))
    model = load_checkpoint(out, device="cpu").model
    assert all(torch.isfinite(p).all() for p in model.parameters())
