"""compare with per-sample evidence: paired bootstrap on OOD scores, McNemar on per-example correctness, Welch
over seeds, Holm across rows, and the fallback to the interval rule (said so) when a file is absent or bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ebmbench.reports import compare as C
from ebmbench.reports.cli import compare
from ebmbench.reports.load import load_runs
from ebmbench.reports.paired import holm, mcnemar_exact
from ebmbench.reports.tolerances import Tolerances
from ebmbench.suites.ood.metrics import detection_metrics


def ood_run(make_run, record, name: str, scores: dict[str, tuple[np.ndarray, np.ndarray]],
            images: tuple[str, str] = ("in0", "out0"), model: str = "ebm") -> Path:
    """An OOD run with one score of ``model`` on each set of ``scores`` (set -> (in, out)), its records and
    per-sample score files, and the average over the sets."""
    records, per_set = [], {}
    for set_name, (s_in, s_out) in scores.items():
        per_set[set_name] = detection_metrics(s_in, s_out)
        extra = {"score": "neg_energy", "scores_file": f"scores/{set_name}.csv", "images_in": images[0],
                 "images_out": f"{images[1]}-{set_name}"}
        records += [record(metric=m, value=v, eval_set=set_name, model=model, extra=extra)
                    for m, v in per_set[set_name].items()]
    records += [record(metric=m, value=float(np.mean([per_set[s][m] for s in scores])), eval_set="average",
                       model=model, extra={"score": "neg_energy", "sets": list(scores)})
                for m in ("auroc", "aupr_in", "aupr_out", "fpr95")]
    path = make_run(name, records, model=model)
    for set_name, (s_in, s_out) in scores.items():
        (path / "scores").mkdir(exist_ok=True)
        pd.DataFrame({"set": ["in-distribution"] * len(s_in) + [set_name] * len(s_out),
                      "in_distribution": [1] * len(s_in) + [0] * len(s_out),
                      "index": [*range(len(s_in)), *range(len(s_out))],
                      f"{model}/neg_energy": np.r_[s_in, s_out]}).to_csv(path / "scores" / f"{set_name}.csv",
                                                                        index=False)
    return path


def scores(rng: np.random.Generator, shift: float = 1.5, n_in: int = 300, n_out: int = 300):
    return rng.normal(shift, 1, n_in), rng.normal(0, 1, n_out)


def judged(base: Path, cand: Path, tolerances: Tolerances | None = None) -> C.Verdict:
    return C.compare_runs(load_runs([base]), load_runs([cand]), tolerances or Tolerances())


def test_same_images_get_a_paired_bootstrap_and_a_real_drop_is_a_significant_regression(make_run, record) -> None:
    rng = np.random.default_rng(0)
    base_scores = {"uniform": scores(rng), "flip": scores(rng, 1.0)}
    base = ood_run(make_run, record, "base", base_scores)
    noise = {s: (i + 0.05 * rng.standard_normal(len(i)), o + 0.05 * rng.standard_normal(len(o)))
             for s, (i, o) in base_scores.items()}
    same = judged(base, ood_run(make_run, record, "same", noise))
    assert same.exit_code == 0 and all(c.test is not None for c in same.comparisons)
    assert all("paired bootstrap" in c.test.method for c in same.comparisons)
    assert min(c.p_adjusted for c in same.comparisons) > 0.05
    worse = {s: (0.5 * i + 0.5 * rng.standard_normal(len(i)), o) for s, (i, o) in base_scores.items()}
    drop = judged(base, ood_run(make_run, record, "worse", worse))
    auroc = next(c for c in drop.comparisons if c.identity["metric"] == "auroc" and
                 c.identity["eval_set"] == "average")
    assert auroc.status == C.REGRESSION and auroc.p_adjusted < 1e-6 and drop.exit_code == 1
    assert [c.p_adjusted for c in drop.comparisons] == pytest.approx(holm([c.test.p for c in drop.comparisons]))


def test_a_drop_beyond_tolerance_that_chance_explains_is_not_a_regression(make_run, record) -> None:
    rng = np.random.default_rng(1)
    base = ood_run(make_run, record, "base", {"uniform": scores(rng, 0.5, 40, 40)}, images=("a", "b"))
    cand = ood_run(make_run, record, "cand", {"uniform": scores(rng, 0.5, 40, 40)}, images=("c", "d"))
    verdict = judged(base, cand, Tolerances({"ood": {"abs": 0.0}}))
    worse = [c for c in verdict.comparisons if c.status in (C.REGRESSION, C.NOT_SIGNIFICANT)]
    assert worse and all(c.status == C.NOT_SIGNIFICANT for c in worse), [(c.status, c.p_adjusted) for c in worse]
    assert all("different images" in c.test.method for c in verdict.comparisons)
    assert verdict.exit_code == 0


def test_per_example_correctness_gets_an_exact_mcnemar_test(make_run, record) -> None:
    rng = np.random.default_rng(2)
    correct_b = rng.random(200) < 0.8
    correct_c = np.where(rng.random(200) < 0.25, False, correct_b)  # the candidate loses about 40 examples
    paths = []
    for name, correct in (("b", correct_b), ("c", correct_c)):
        extra = {"per_example_file": "per_example/clean.npz", "per_example_key": "ebm|none|clean",
                 "images": "same"}
        path = make_run(name, [record(suite="robustness", metric="clean_accuracy", eval_set="none/clean/test",
                                      value=float(correct.mean()), extra=extra)])
        (path / "per_example").mkdir()
        np.savez(path / "per_example" / "clean.npz", **{"ebm|none|clean": correct[None].astype(np.uint8)})
        paths.append(path)
    verdict = judged(*paths)
    comp = verdict.comparisons[0]
    assert comp.test.p == pytest.approx(mcnemar_exact(correct_b, correct_c).p) and "McNemar" in comp.test.method
    assert comp.status == C.REGRESSION and verdict.exit_code == 1


def test_several_seeds_on_both_sides_get_a_welch_test(make_run, record) -> None:
    fields = {"suite": "quality", "metric": "fid", "eval_set": "samples"}
    base = [make_run(f"b{s}", [record(value=v, seed=s, **fields)], seed=s) for s, v in enumerate([15.4, 16.1, 16.0])]
    cand = [make_run(f"c{s}", [record(value=v, seed=s, **fields)], seed=s) for s, v in enumerate([15.9, 16.2, 16.5])]
    verdict = C.compare_runs(load_runs(base), load_runs(cand), Tolerances({"quality": {"rel": 0.0}}))
    comp = verdict.comparisons[0]
    assert comp.test is not None and comp.test.method.startswith("Welch t over seeds (3 vs 3)")
    assert comp.status == C.NOT_SIGNIFICANT and verdict.exit_code == 0


@pytest.mark.parametrize("damage", ["outside", "corrupt", "missing"])
def test_a_bad_per_sample_file_falls_back_to_the_interval_rule_and_says_so(make_run, record, damage) -> None:
    rng = np.random.default_rng(3)
    base = ood_run(make_run, record, "base", {"uniform": scores(rng)})
    cand = ood_run(make_run, record, "cand", {"uniform": scores(rng)})
    target = cand / "scores" / "uniform.csv"
    if damage == "outside":
        lines = (cand / "results.jsonl").read_text().replace("scores/uniform.csv", "../base/scores/uniform.csv")
        (cand / "results.jsonl").write_text(lines)
    elif damage == "corrupt":
        target.write_bytes(b"\xff\xfe\x00garbage")
    else:
        target.unlink()
    verdict = judged(base, cand)
    set_rows = [c for c in verdict.comparisons if c.identity["eval_set"] == "uniform"]
    assert all(c.test is None for c in set_rows) and verdict.exit_code in (0, 1)
    assert any("without a test" in n for n in verdict.notes)


def test_markdown_verdict_shows_p_values_beside_the_tolerance(make_run, record, tmp_path) -> None:
    rng = np.random.default_rng(4)
    base = ood_run(make_run, record, "base", {"uniform": scores(rng)})
    cand = ood_run(make_run, record, "cand", {"uniform": scores(rng)}, images=("in0", "other"))
    result = CliRunner().invoke(compare, [str(base), str(cand), "--markdown", str(tmp_path / "v.md")])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| status"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[cells.index("allowed") + 1] == "p (Holm)"
    assert "one-sided tests" in result.output and "Holm" in result.output
