"""How often ``ebmbench compare`` cries wolf, and how often it catches a real regression, on simulated pairs.

Each simulated pair is a baseline and a candidate run directory written exactly as the suites write them
(records plus per-sample files): OOD scores of the same images on ``--sets`` sets (AUROC, AUPR-IN, AUPR-OUT,
FPR@95 per set and averaged) and per-example correctness on the same test images (clean accuracy). A model's
score of an image is the image's latent "true" score plus the model's own noise; its correctness is a coin
whose bias is the example's difficulty. Under "no change" both sides draw from the same distribution (fresh
model noise, the same images); under "regression" the candidate's separation and accuracy are worse by the
stated effect. The whole verdict (exit code 1 = regression) is counted, with the paired tests (default) and
with the interval rule alone (``tests=False``), under the default tolerances and with no tolerance at all
(``abs = 0``: only the test protects the gate).

    python benchmarks/bench_compare.py [--pairs 200] [--auroc-drop 0.03] [--acc-drop 0.05] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ebmbench.records import Record
from ebmbench.reports.compare import compare_runs
from ebmbench.reports.load import load_runs
from ebmbench.reports.tolerances import Tolerances
from ebmbench.rundir import RunDir
from ebmbench.suites.ood.metrics import METRICS, detection_metrics

STRICT = Tolerances({"*": {"abs": 0.0, "rel": 0.0}})


def separation_for(auroc: float) -> float:
    """Mean shift d between N(d, 1) and N(0, 1) scores whose AUROC is ``auroc`` (Phi(d / sqrt 2))."""
    return float(np.sqrt(2) * stats.norm.ppf(auroc))


def write_run(root: Path, name: str, sets: dict[str, tuple[np.ndarray, np.ndarray]], correct: np.ndarray) -> Path:
    """A finished OOD + robustness-like run directory with per-sample files, as the suites write them."""
    run = RunDir(root / name)
    run.start({"suite": "ood", "seed": 0, "options": {}}, {"model": "ebm"})
    records, per_set = [], {}
    for set_name, (s_in, s_out) in sets.items():
        per_set[set_name] = detection_metrics(s_in, s_out)
        extra = {"score": "s", "scores_file": f"scores/{set_name}.csv", "images_in": "in",
                 "images_out": set_name}
        records += [_rec("ood", m, v, set_name, extra) for m, v in per_set[set_name].items()]
        frame = pd.DataFrame({"in_distribution": np.r_[np.ones(len(s_in)), np.zeros(len(s_out))].astype(int),
                              "ebm/s": np.r_[s_in, s_out]})
        (run.path / "scores").mkdir(parents=True, exist_ok=True)
        frame.to_csv(run.path / "scores" / f"{set_name}.csv", index=False)
    records += [_rec("ood", m, float(np.mean([per_set[s][m] for s in sets])), "average",
                     {"score": "s", "sets": list(sets)}) for m in METRICS]
    (run.path / "per_example").mkdir(exist_ok=True)
    np.savez(run.path / "per_example" / "clean.npz", **{"ebm|none|clean": correct[None].astype(np.uint8)})
    records.append(_rec("robustness", "clean_accuracy", float(correct.mean()), "none/clean/test",
                        {"per_example_file": "per_example/clean.npz", "per_example_key": "ebm|none|clean",
                         "images": "test"}))
    run.commit("all", records)
    run.finish()
    return run.path


def _rec(suite: str, metric: str, value: float, eval_set: str, extra: dict) -> Record:
    return Record(suite=suite, suite_version="1", model="ebm", dataset="digits", eval_set=eval_set, metric=metric,
                  value=float(value), seed=0, extra=extra)


class World:
    """Fixed images (latent scores, difficulties); ``model`` draws one model's per-sample outputs on them.

    A model scores an image latent + noise (in-distribution images shifted up so that the AUROC is the target)
    and gets an example right when difficulty + noise > threshold (so that the accuracy is the target)."""

    def __init__(self, rng: np.random.Generator, n_in: int, n_out: int, sets: int, auroc: float, acc: float,
                 model_noise: float) -> None:
        self.rng, self.noise, self.auroc, self.acc = rng, model_noise, auroc, acc
        self.latent_in = rng.normal(0, 1, n_in)
        self.latent_out = {f"set{k}": rng.normal(0, 1, n_out) for k in range(sets)}
        self.mean = np.sqrt(2) * stats.norm.ppf(acc)  # difficulty ~ N(mean, 1), noise N(0, 1): P(right) = acc
        self.difficulty = rng.normal(self.mean, 1, n_in)

    def model(self, auroc_drop: float = 0.0, acc_drop: float = 0.0) -> tuple[dict, np.ndarray]:
        shift = separation_for(self.auroc - auroc_drop) * np.sqrt(1 + self.noise ** 2)
        s_in = shift + self.latent_in + self.noise * self.rng.standard_normal(len(self.latent_in))
        sets = {k: (s_in, v + self.noise * self.rng.standard_normal(len(v))) for k, v in self.latent_out.items()}
        threshold = self.mean - np.sqrt(2) * stats.norm.ppf(self.acc - acc_drop)
        return sets, self.difficulty + self.rng.standard_normal(len(self.difficulty)) > threshold


RULES: tuple[tuple[str, bool], ...] = (("tests", True), ("intervals", False))


def simulate(pairs: int, auroc_drop: float, acc_drop: float, seed: int, n_in: int, n_out: int,
             sets: int, rules: tuple[tuple[str, bool], ...] = RULES) -> dict[str, float]:
    """Fraction of pairs with exit code 1, per rule (tests or intervals) and tolerance (default or none). The
    simulated records carry no confidence intervals, so "intervals" is the tolerance alone."""
    rng = np.random.default_rng(seed)
    hits = {f"{rule}, {tol}": 0 for rule, _ in rules for tol in ("default tolerances", "no tolerance")}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            world = World(rng, n_in, n_out, sets, auroc=0.85, acc=0.8, model_noise=1.0)
            base = write_run(Path(tmp), f"b{i}", *world.model())
            cand = write_run(Path(tmp), f"c{i}", *world.model(auroc_drop, acc_drop))
            runs_b, runs_c = load_runs([base]), load_runs([cand])
            for rule, tests in rules:
                for tol_name, tol in (("default tolerances", Tolerances()), ("no tolerance", STRICT)):
                    verdict = compare_runs(runs_b, runs_c, tol, tests=tests)
                    hits[f"{rule}, {tol_name}"] += verdict.exit_code == 1
    return {k: v / pairs for k, v in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--auroc-drop", type=float, default=0.03, help="true AUROC drop of the regression")
    parser.add_argument("--acc-drop", type=float, default=0.05, help="true accuracy drop of the regression")
    parser.add_argument("--sets", type=int, default=2)
    parser.add_argument("--n-in", type=int, default=360)
    parser.add_argument("--n-out", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    start = time.perf_counter()
    common = {"seed": args.seed, "n_in": args.n_in, "n_out": args.n_out, "sets": args.sets}
    null = simulate(args.pairs, 0.0, 0.0, **common)
    power = simulate(args.pairs, args.auroc_drop, args.acc_drop, **{**common, "seed": args.seed + 1})
    out = {"pairs": args.pairs, "false_alarm": null, "power": power, "auroc_drop": args.auroc_drop,
           "acc_drop": args.acc_drop, "seconds": round(time.perf_counter() - start, 1)}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.pairs} simulated pairs per scenario; {args.sets} OOD sets of {args.n_out} images, {args.n_in} "
          f"in-distribution / test images; metrics per pair: {4 * (args.sets + 1) + 1}")
    print(f"{'rule':32} {'false alarms (no change)':>26} {'power':>8}  (AUROC -{args.auroc_drop}, "
          f"accuracy -{args.acc_drop})")
    for key in null:
        print(f"{key:32} {null[key]:>26.3f} {power[key]:>8.3f}")
    print(f"({out['seconds']} s)")


if __name__ == "__main__":
    main()
