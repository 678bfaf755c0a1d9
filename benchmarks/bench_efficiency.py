"""Suite efficiency: the share of a real suite run's wall time spent in the models' forward and backward.

Each suite runs once as a user would run it (``ebmbench.runner.run_suite`` on the digits, no progress bars, a
fresh run directory and cache); ``ModelClock``
(``benchmarks/model_clock.py``) times the forward and backward of every model the run loads (the model under
test and its baselines; not the feature extractor) and the run's wall time. The reference is the run itself: the
figure is forward+backward / wall (goal: at least 85 %). A warm-up run of each suite first pays the one-off
costs (imports, the reference features' cache); the default baselines are copied from the ebmbench cache
(trained there on first use).

    python benchmarks/bench_efficiency.py [--suites quality,robustness] [--model CKPT] [--threads 2]
        [--quality "n=1000 steps=60"] [--robustness "budget=cpu"]

The model defaults to the quickstart's EBM (trained and cached on first use: minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_clock import ModelClock

from ebmbench.runner import default_cache_dir, run_suite

SETTINGS = {"quality": "", "robustness": "budget=cpu"}
WARM = {"quality": "n=50 steps=1",
        "robustness": "n=20 linf_eps=0,0.1 l2_eps=0,0.5 steps=1 eot=1 draws=1 purify_steps=1 square_queries=5"}


def quickstart_model() -> Path:
    from ebmbench.quickstart import QUICKSTART_EBM
    from ebmbench.zoo import cached_model

    return cached_model("ebm", dict(QUICKSTART_EBM), default_cache_dir(), torch.device("cpu"), progress=False)


def measure(suite: str, ckpt: Path, settings: list[str], folder: Path) -> ModelClock:
    """One run of ``suite`` under the clock, after a small warm-up run that fills a fresh cache (reference
    features, default baselines) as a user's earlier runs would have; the measured run's samples are new."""
    cache = folder / "cache"
    (cache / "models").mkdir(parents=True, exist_ok=True)
    for trained in (default_cache_dir() / "models").glob("classifier-*.safetensors"):  # the default baselines
        (cache / "models" / trained.name).write_bytes(trained.read_bytes())
    run_suite(suite, ckpt, folder / "warm", WARM[suite].split(), device="cpu", progress=False, overwrite=True,
              cache_dir=cache)
    with ModelClock() as clock:
        run_suite(suite, ckpt, folder / "run", settings, device="cpu", progress=False, overwrite=True,
                  cache_dir=cache)
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", default="quality,robustness")
    parser.add_argument("--model", type=Path, default=None, help="checkpoint [default: the quickstart EBM]")
    parser.add_argument("--threads", type=int, default=2)
    for suite, default in SETTINGS.items():
        parser.add_argument(f"--{suite}", default=default, help=f"settings of the {suite} run [{default}]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    ckpt = args.model or quickstart_model()
    print(f"# model {ckpt}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        for suite in args.suites.split(","):
            settings = getattr(args, suite).split()  # empty: the suite's defaults
            tic = time.time()
            clock = measure(suite, ckpt, settings, Path(tmp) / suite)
            print(clock.report(f"{suite} [{' '.join(settings)}]") +
                  f" (load average {os.getloadavg()[0]:.2f}; {time.time() - tic:.0f} s with warm-up)", flush=True)


if __name__ == "__main__":
    main()
