"""Throughput of the whole quality suite: samples per second, and where the time goes (sampling, feature
extraction, metrics), against the bare Langevin sampler on the same model, chains and steps.

The reference is the shared sampler alone (``langevin`` over the same batches, nothing saved, nothing
extracted); the ratio suite / sampler says how much the suite adds on top of sampling. The model is an untrained
conditional digits EBM (speed does not depend on training) or a checkpoint given with ``--model``. The last
line is issue #13's figure: the share of the suite's wall time in the model's forward and backward
(``model_clock.py``; sampling and the health checks' passes count, the feature extractor does not).

    python benchmarks/bench_quality.py [--n 1000] [--steps 60] [--device cuda] [--model CKPT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from model_clock import ModelClock

from ebmbench.checkpoint import load_checkpoint, save_checkpoint
from ebmbench.runner import run_suite
from ebmbench.sampler import LangevinConfig, langevin, make_generator, uniform_noise
from ebmbench.training.ebm import Config, build


def default_model(folder: Path) -> Path:
    """An untrained conditional EBM with the quickstart's architecture, on the digits."""
    torch.manual_seed(0)
    return save_checkpoint(folder / "ebm.safetensors", build(Config(conditional=True), ((1, 8, 8), 10)))


def bare_sampler(ckpt: Path, n: int, steps: int, batch: int, device: torch.device) -> float:
    """Seconds the shared sampler alone needs for ``n`` chains of ``steps`` steps."""
    model = load_checkpoint(ckpt, device).model.eval()
    gen = make_generator(0, device)
    cfg = LangevinConfig(steps=steps, clamp=(0.0, 1.0))
    tic = time.perf_counter()
    for start in range(0, n, batch):
        size = min(batch, n - start)
        y = (torch.arange(start, start + size, device=device) % model.info.num_classes
             if model.info.conditional else None)
        langevin(model.energy, uniform_noise(size, model.info.input_shape, (0.0, 1.0), device, gen), cfg, y,
                 generator=gen, model=model)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - tic


def whole_suite(ckpt: Path, out: Path, n: int, steps: int, batch: int,
                device: torch.device) -> tuple[float, dict, ModelClock]:
    """Wall seconds of one suite run (no reference rows, no cache), its own timing breakdown, and the time in
    the model's forward and backward (``ModelClock``: health checks included, the feature extractor not)."""
    settings = [f"n={n}", f"steps={steps}", f"batch_size={batch}", "reference_rows=false", "cache=false"]
    tic = time.perf_counter()
    with ModelClock() as clock:
        run_suite("quality", ckpt, out, settings, device=str(device), progress=False, overwrite=True,
                  cache_dir=out / "cache")
    wall = time.perf_counter() - tic
    return wall, json.loads((out / "timings.json").read_text()), clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", type=Path, default=None, help="a checkpoint [default: untrained digits EBM]")
    args = parser.parse_args()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.model or default_model(Path(tmp))
        bare_sampler(ckpt, min(args.n, args.batch), 2, args.batch, device)  # warm-up: kernels, allocator
        whole_suite(ckpt, Path(tmp) / "warm", 20, 1, args.batch, device)  # warm-up: imports (torch-fidelity, plots)
        sampler_s = bare_sampler(ckpt, args.n, args.steps, args.batch, device)
        wall, timings, clock = whole_suite(ckpt, Path(tmp) / "run", args.n, args.steps, args.batch, device)
    budget = timings[f"steps-{args.steps}"]
    parts = {"sampling": budget["sampling_s"], "feature extraction": budget["features_s"],
             "metrics": budget["metrics_s"], "reference features": timings.get("reference_features_s", 0.0)}
    other = max(wall - sum(parts.values()), 0.0)
    print(f"quality suite, n={args.n}, {args.steps} steps, batch {args.batch}, {device}")
    print(f"  whole suite     {wall:8.2f} s   {args.n / wall:9.1f} samples/s")
    for name, seconds in {**parts, "other (load, check, plots)": other}.items():
        print(f"    {name:<26}{seconds:8.2f} s   {100 * seconds / wall:5.1f} %")
    print(f"  bare sampler    {sampler_s:8.2f} s   {args.n / sampler_s:9.1f} samples/s")
    print(f"  ratio suite / bare sampler (samples/s): {sampler_s / wall:.2f}")
    share = budget["sampling_s"] / (budget["sampling_s"] + budget["features_s"])
    print(f"  sampling : feature extraction = {100 * share:.0f} : {100 * (1 - share):.0f}")
    print("  " + clock.report("whole suite"))


if __name__ == "__main__":
    main()
