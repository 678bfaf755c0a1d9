"""Langevin sampling throughput: ebmbench's sampler against the textbook loop, same model, same update.

The reference is the plain loop (``requires_grad`` on x, ``backward`` of the summed energy, read ``x.grad``)
with the weights still requiring gradients and spectral norm recomputed every step. Each variant runs in its
own process so peak memory (CUDA: max allocated; CPU: peak RSS) is its own.

    python benchmarks/bench_sampler.py [--device cuda] [--steps 20] [--batch 128]

Prints image-steps per second and peak memory per (network, variant) and the ratio ours / reference
(goal: >= 1.0, aim 1.5).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from ebmbench.models.base import ModelInfo
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch
from ebmbench.sampler import LangevinConfig, langevin

NETWORKS = {"digits-small": ((1, 8, 8), "small", {"spectral_norm": True}),
            "igebm-cifar10": ((3, 32, 32), "igebm-cifar10", {})}


def reference_loop(model: EnergyModel, x: torch.Tensor, cfg: LangevinConfig) -> torch.Tensor:
    """The textbook update, written the obvious way."""
    for _ in range(cfg.steps):
        x = x.detach().requires_grad_(True)
        model.energy(x).sum().backward()
        grad = x.grad.clamp(-cfg.grad_clip, cfg.grad_clip)
        x = (x - cfg.step_size * grad + cfg.noise * torch.randn_like(x)).clamp(0, 1)
    return x.detach()


def measure(network: str, variant: str, device: str, steps: int, batch: int) -> dict:
    shape, arch, overrides = NETWORKS[network]
    torch.manual_seed(0)
    model = EnergyModel(ModelInfo("ebm", "bench", shape), resolve_arch(arch, **overrides)).to(device).train()
    cfg = LangevinConfig(steps=steps)
    x0 = torch.rand(batch, *shape, device=device)
    run = (lambda: langevin(model.energy, x0, cfg, model=model).x) if variant == "ebmbench" else (
        lambda: reference_loop(model, x0, cfg))
    run()  # warm-up (allocator, kernels)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    tic = time.perf_counter()
    run()
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - tic
    peak = (torch.cuda.max_memory_allocated(device) if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"image_steps_per_s": batch * steps / seconds, "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=None, help="[default: 20 digits / 3 CIFAR on CPU, 20 on CUDA]")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--child", nargs=2, metavar=("NETWORK", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        steps = args.steps or (3 if args.device == "cpu" and args.child[0] == "igebm-cifar10" else 20)
        print(json.dumps(measure(args.child[0], args.child[1], args.device, steps, args.batch)))
        return
    print(f"{'network':<16}{'variant':<11}{'img-steps/s':>13}{'peak MB':>10}")
    for network in args.networks.split(","):
        results = {}
        for variant in ("reference", "ebmbench"):
            cmd = [sys.executable, __file__, "--device", args.device, "--batch", str(args.batch),
                   "--child", network, variant] + (["--steps", str(args.steps)] if args.steps else [])
            results[variant] = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
            r = results[variant]
            print(f"{network:<16}{variant:<11}{r['image_steps_per_s']:>13.0f}{r['peak_mb']:>10.0f}")
        ratio = results["ebmbench"]["image_steps_per_s"] / results["reference"]["image_steps_per_s"]
        mem = results["ebmbench"]["peak_mb"] / results["reference"]["peak_mb"]
        print(f"{network:<16}{'ratio':<11}{ratio:>12.2f}x{mem:>9.2f}x  (throughput, memory: ours / reference)")


if __name__ == "__main__":
    main()
