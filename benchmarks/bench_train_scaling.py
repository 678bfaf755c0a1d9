"""Data-parallel training on CPU: `ebmbench train` in one process against N gloo processes under torchrun.

Each configuration runs twice per round, with ``--iterations`` and with 1 iteration; the difference is the time
of the training loop without the start-up (imports, data, the process group), which is reported separately.
Rounds alternate between the configurations so that a shared machine's load falls on both alike. Every process
gets ``--threads`` threads (default 1, so N processes use N cores).

    python benchmarks/bench_train_scaling.py [--kind ebm] [--nproc 2] [--iterations 200] [--rounds 2]
        [--set KEY=VALUE ...]

Prints, per configuration, the median loop time, seconds per step and start-up, then the speed-up of N
processes over one (ideal: N). The global batch (``batch_size``) is the same in both, so the runs train the
same model up to float rounding (``ebmbench.training.loop``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def command(nproc: int, kind: str, iterations: int, settings: list[str], out: Path) -> list[str]:
    train = ["-m", "ebmbench", "train", "--kind", kind, "--out", str(out), "--device", "cpu", "--quiet",
             "--set", f"iterations={iterations}", *(arg for s in settings for arg in ("--set", s))]
    if nproc == 1:
        return [sys.executable, *train]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *train]


def timed(cmd: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    tic = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="ebm")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    loop: dict[int, list[float]] = {1: [], args.nproc: []}
    start: dict[int, list[float]] = {1: [], args.nproc: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for nproc in loop:
                full = timed(command(nproc, args.kind, args.iterations, args.settings, Path(tmp) / f"f{nproc}-{r}"),
                             args.threads)
                one = timed(command(nproc, args.kind, 1, args.settings, Path(tmp) / f"o{nproc}-{r}"), args.threads)
                loop[nproc].append(full - one)
                start[nproc].append(one)
                print(f"round {r + 1}: {nproc} process(es): {full:.1f} s in all, {one:.1f} s for 1 iteration",
                      flush=True)
    print(f"\n{args.kind}, {args.iterations} iterations, {args.threads} thread(s) per process, "
          f"settings: {' '.join(args.settings) or 'defaults'}")
    for nproc in loop:
        t = statistics.median(loop[nproc])
        print(f"{nproc} process(es): loop {t:.1f} s ({t / (args.iterations - 1) * 1000:.0f} ms/step), "
              f"start-up {statistics.median(start[nproc]):.1f} s")
    speedup = statistics.median(loop[1]) / statistics.median(loop[args.nproc])
    print(f"speed-up of {args.nproc} processes over 1: {speedup:.2f}x (ideal {args.nproc})")


if __name__ == "__main__":
    main()
