"""Attack throughput of the robustness suite's threat models: attacked images per second (attack plus one
evaluation), on a conditional EBM's classifier view with Langevin purification.

The reference, measured in the same run, is the cheapest: white-box PGD on the EBM's plain logits (-E(x, y)
for all labels). Every other threat model is printed with its cost relative to it: the transfer protocol adds
a purified evaluation, BPDA+EOT a purification chain per EOT draw per step, the full attack a differentiated
chain (double backward) per EOT draw per step.

    python benchmarks/bench_robustness.py [--device cuda] [--networks digits-small,igebm-cifar10]
        [--batch 64] [--steps 5] [--purify-steps 5] [--eot 2]

Peak memory is CUDA's max allocated (0 on CPU).
"""

from __future__ import annotations

import argparse
import time

import torch

from ebmbench.models.base import ModelInfo
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch
from ebmbench.suites.robustness.attacks import AttackSpec, attack_batches
from ebmbench.suites.robustness.eval import evaluate
from ebmbench.suites.robustness.views import PlainView, Purification, PurifiedView

NETWORKS = {"digits-small": ((1, 8, 8), "small", 0.1), "igebm-cifar10": ((3, 32, 32), "igebm-cifar10", 8 / 255)}
THREATS = ("white-box", "transfer-from-classifier", "bpda+eot", "full")


def measure(network: str, threat: str, device: torch.device, batch: int, steps: int, purify_steps: int,
            eot: int) -> tuple[float, float]:
    """(attacked images per second, peak MB) of one threat model on ``batch`` images."""
    shape, arch, eps = NETWORKS[network]
    torch.manual_seed(0)
    info = ModelInfo("ebm", "bench", shape, num_classes=10, conditional=True)
    model = EnergyModel(info, resolve_arch(arch)).to(device).eval()
    purified = PurifiedView(model, Purification(steps=purify_steps, radius=eps))
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
    spec = AttackSpec("linf", eps, steps, 2.5 * eps / steps, eot=1 if threat in THREATS[:2] else eot)
    source = {"white-box": PlainView(model), "transfer-from-classifier": PlainView(model),
              "bpda+eot": purified, "full": PurifiedView(model, purified.purification, "full")}[threat]
    target = PlainView(model) if threat == "white-box" else purified

    def run() -> None:
        advs = attack_batches(source, x, y, spec, 10, 0, threat in THREATS[2:], batch, device)
        evaluate(target, advs, y, 1, 0, batch, device)

    run()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    tic = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    return batch / (time.perf_counter() - tic), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--networks", default=None, help="[default: digits-small on CPU, both on CUDA]")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="PGD steps")
    parser.add_argument("--purify-steps", type=int, default=5)
    parser.add_argument("--eot", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    networks = args.networks or ("digits-small" if device.type == "cpu" else ",".join(NETWORKS))
    print(f"PGD steps {args.steps}, purification steps {args.purify_steps}, EOT {args.eot}, batch {args.batch}, "
          f"{device}")
    print(f"{'network':<15}{'threat model':<26}{'images/s':>10}{'vs ref':>9}{'peak MB':>9}")
    for network in networks.split(","):
        reference = None
        for threat in THREATS:
            rate, peak = measure(network, threat, device, args.batch, args.steps, args.purify_steps, args.eot)
            reference = reference or rate
            print(f"{network:<15}{threat:<26}{rate:>10.1f}{rate / reference:>8.3f}x{peak:>9.0f}")


if __name__ == "__main__":
    main()
