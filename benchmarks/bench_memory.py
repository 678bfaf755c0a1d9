"""Peak memory against N: a suite's peak resident set size at n=2,000 and n=20,000 on the digits (goal: ratio <= 1.3).

Each (suite, N) runs in its own fresh process (so its peak RSS is its own), on a small conditional digits EBM
trained for a few iterations (memory does not depend on how good the model is), with sampling budgets kept
short (memory does not depend on the number of steps either).

    python benchmarks/bench_memory.py [--suites quality,energy,ood] [--small 2000] [--large 20000]

Prints peak RSS per (suite, N) and the ratio large / small.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the options that set N for each suite, and settings that keep the run short without changing what is held
SUITES = {
    "quality": ("n", ["steps=2", "batch_size=256", "reference_rows=false", "cache=false", "kid_subsets=10"]),
    "energy": ("noise_n", ["batch_size=256"]),
    "ood": ("n", ["sets=uniform,gaussian", "default_baselines=", "bootstrap=100", "histograms=false"]),
}


def child(suite: str, n: int, ckpt: str, out: str) -> None:
    import warnings

    import torch

    from ebmbench.runner import run_suite

    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    key, settings = SUITES[suite]
    tic = time.perf_counter()
    run_suite(suite, ckpt, out, [*settings, f"{key}={n}"], device="cpu", progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "seconds": time.perf_counter() - tic}))


def train_model(folder: Path) -> Path:
    import torch

    from ebmbench.options import build_options
    from ebmbench.training.common import TrainRequest, trainer

    module = trainer("ebm")
    config = build_options(module.Config, {"iterations": "5", "conditional": "true", "batch_size": "32",
                                           "sample_steps": "3", "buffer_size": "64"})
    return module.train(config, TrainRequest(out=folder / "ebm.safetensors", device=torch.device("cpu"),
                                             progress=False), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", default="quality,energy,ood")
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2], args.child[3])
        return
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = train_model(Path(tmp))
        print(f"{'suite':<10}{'n':>8}{'peak RSS MB':>14}{'seconds':>10}")
        for suite in args.suites.split(","):
            peaks = {}
            for n in (args.small, args.large):
                out = Path(tmp) / f"{suite}-{n}"
                proc = subprocess.run([sys.executable, __file__, "--child", suite, str(n), str(ckpt), str(out)],
                                      capture_output=True, text=True, check=True)
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                peaks[n] = result["peak_mb"]
                print(f"{suite:<10}{n:>8}{result['peak_mb']:>14.0f}{result['seconds']:>10.1f}", flush=True)
            print(f"{suite:<10}{'ratio':>8}{peaks[args.large] / peaks[args.small]:>14.2f}   (goal <= 1.3)")


if __name__ == "__main__":
    main()
