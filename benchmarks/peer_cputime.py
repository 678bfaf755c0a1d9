"""The peer sampler benchmark's variants timed in CPU seconds, for a shared machine.

``peer_sampler_bench.py`` (``/work/shared/bench``) reports wall-clock throughput. On a machine that other jobs
share, a call's wall time mostly measures how much of a core the scheduler lent it, and the ratios between
variants swing by 2x from round to round. This runs the same variants (the bench's own runners: textbook,
ebmkit, TorchEBM, and ``--import`` hooks), on the same model, input and settings, interleaved round by round, and
times each call by the process's CPU seconds (user + system) as well as wall seconds. Use one thread
(``--threads 1``): CPU time then counts the work, not threads spinning in wait.

    python benchmarks/peer_cputime.py --bench /work/shared/bench/peer_sampler_bench.py --preset digits \\
        --import benchmarks/peer_hook.py:langevin_hook --import benchmarks/peer_hook.py:langevin_hook_compiled

Prints, per variant, the median image-steps per CPU second and per wall second, and each ratio against every
other variant (median of the per-round paired ratios, CPU time).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import statistics
import time

import torch


def load_bench(path: str):
    spec = importlib.util.spec_from_file_location("peer_sampler_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default="/work/shared/bench/peer_sampler_bench.py")
    parser.add_argument("--preset", default="digits")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default="textbook,ebmkit,torchebm")
    parser.add_argument("--import", dest="hooks", action="append", default=[])
    args = parser.parse_args()
    bench = load_bench(args.bench)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape, builder, sn = bench.PRESETS[args.preset]
    model = builder(sn).train()  # the bench's default: train mode, spectral norm per its preset
    x0 = torch.rand(args.batch, *shape)
    init = copy.deepcopy(model.state_dict())
    cfg = dict(steps=args.steps, step_size=10.0, noise=0.005, clamp=(0.0, 1.0), grad_clip=None,
               device=torch.device("cpu"))
    notes: list[str] = []
    runners = {name: bench.BUILTIN[name](model, cfg, notes) for name in args.variants.split(",")}
    runners.update({f"ebmbench {spec.rsplit(':', 1)[1]}": bench.make_hook(spec)(model, cfg, notes)
                    for spec in args.hooks})
    print(f"# {args.preset}: batch {args.batch}, {args.steps} steps, {args.repeats} rounds, {args.threads} thread(s),"
          f" torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} at start")
    for run in runners.values():  # warm-up (and compilation) outside the timed rounds
        model.load_state_dict(init)
        run(model, x0, dict(cfg, steps=min(args.steps, 3)))
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    wall: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            model.load_state_dict(init)
            torch.manual_seed(1)
            c0, t0 = time.process_time(), time.perf_counter()
            run(model, x0, cfg)
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    work = args.batch * args.steps
    print(f"{'variant':<34}{'img-steps/CPU s':>16}{'img-steps/wall s':>18}")
    for name in runners:
        print(f"{name:<34}{work / statistics.median(cpu[name]):>16.1f}{work / statistics.median(wall[name]):>18.1f}")
    print("paired CPU-time ratios (row faster than column by):")
    names = list(runners)
    print(" " * 34 + "".join(f"{n[:14]:>16}" for n in names))
    for a in names:
        ratios = [statistics.median(b_t / a_t for a_t, b_t in zip(cpu[a], cpu[b], strict=True)) for b in names]
        print(f"{a:<34}" + "".join(f"{r:>16.2f}" for r in ratios))
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
