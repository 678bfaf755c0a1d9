"""Data-parallel suites on CPU: `ebmbench run SUITE` in one process against N gloo processes under torchrun.

Each configuration runs the suite with the given settings and once more with a tiny ``n`` (start-up: imports,
data, the model, the process group, health checks); the difference is the sharded work. Rounds alternate between
the configurations so that a shared machine's load falls on both alike; every process gets ``--threads``
threads (default 1, so N processes use N cores). The records of both are compared too: sharded work seeds
every example by its global index, so they must agree (exactly, or to float rounding in reductions).

    python benchmarks/bench_suite_scaling.py [--suite quality] [--nproc 2] [--rounds 2] [--model CKPT]
        [--set KEY=VALUE ...]

The model defaults to the quickstart's EBM (trained and cached on first use: minutes).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

from bench_efficiency import quickstart_model
from bench_train_scaling import timed

DEFAULTS = {"quality": ["n=2000", "steps=60", "cache=false"], "ood": ["n=1000"], "energy": ["noise_n=20000"],
            "robustness": ["budget=cpu", "n=200", "batch_size=50"]}
TINY = {"quality": "n=20", "ood": "n=20", "energy": "noise_n=20", "robustness": "n=20"}  # start-up and little else


def command(nproc: int, suite: str, model: Path, settings: list[str], out: Path) -> list[str]:
    run = ["-m", "ebmbench", "run", suite, "--model", str(model), "--out", str(out), "--device", "cpu", "--quiet",
           "--overwrite", *(arg for s in settings for arg in ("--set", s))]
    if nproc == 1:
        return [sys.executable, *run]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *run]


def records(run_dir: Path) -> dict[str, float]:
    """Every record's value, keyed by what it measures (set, metric and the record's settings)."""
    out = {}
    for path in run_dir.rglob("results.jsonl"):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            key = json.dumps([r["eval_set"], r["metric"], r.get("extra", {})], sort_keys=True)
            out[key] = float(r["value"])
    return out


def largest_difference(a: dict[str, float], b: dict[str, float]) -> float:
    """The largest relative difference between matching records (inf when the record sets differ)."""
    if a.keys() != b.keys():
        return math.inf
    diffs = [0.0 if x == y or (math.isnan(x) and math.isnan(y)) else abs(x - y) / max(abs(x), abs(y), 1e-12)
             for x, y in ((a[k], b[k]) for k in a)]
    return max(diffs, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="quality", choices=sorted(DEFAULTS))
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--set", dest="settings", action="append", default=None, metavar="KEY=VALUE")
    args = parser.parse_args()
    model = args.model or quickstart_model()
    settings = args.settings if args.settings is not None else DEFAULTS[args.suite]
    work: dict[int, list[float]] = {1: [], args.nproc: []}
    start: dict[int, list[float]] = {1: [], args.nproc: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for nproc in work:
                full = timed(command(nproc, args.suite, model, settings, Path(tmp) / f"f{nproc}"), args.threads)
                tiny = timed(command(nproc, args.suite, model, [*settings, TINY[args.suite]],
                                     Path(tmp) / f"t{nproc}"), args.threads)
                work[nproc].append(full - tiny)
                start[nproc].append(tiny)
                print(f"round {r + 1}: {nproc} process(es): {full:.1f} s in all, {tiny:.1f} s with {TINY[args.suite]}",
                      flush=True)
        diff = largest_difference(records(Path(tmp) / "f1"), records(Path(tmp) / f"f{args.nproc}"))
    print(f"\n{args.suite}, {' '.join(settings)}, {args.threads} thread(s) per process, model {model.name}")
    for nproc in work:
        print(f"{nproc} process(es): sharded work {statistics.median(work[nproc]):.1f} s, "
              f"start-up and {TINY[args.suite]} {statistics.median(start[nproc]):.1f} s")
    speedup = statistics.median(work[1]) / statistics.median(work[args.nproc])
    print(f"speed-up of {args.nproc} processes over 1: {speedup:.2f}x (ideal {args.nproc}); records of 1 and "
          f"{args.nproc} processes: largest relative difference {diff:.1e}")


if __name__ == "__main__":
    main()
