import math
from pathlib import Path

import pytest
import torch
from scipy import stats

from ebmbench.checkpoint import load_checkpoint
from ebmbench.data import DataContext, load_dataset
from ebmbench.runner import run_suite


def test_energy_suite_matches_direct_computation(dummy_path: Path, tmp_path: Path) -> None:
    run = run_suite("energy", dummy_path, tmp_path / "run", ["noise_n=200"], progress=False)
    rows = {(r.eval_set, r.metric): r for r in run.records()}
    model = load_checkpoint(dummy_path).model
    train_x, _ = load_dataset("digits", "train").tensors()
    test_x, _ = load_dataset("digits", "test").tensors()
    with torch.no_grad():
        e_train, e_test = model.energy(train_x), model.energy(test_x)
    assert math.isclose(rows[("train", "energy_mean")].value, e_train.mean().item(), rel_tol=1e-5)
    assert math.isclose(rows[("test", "energy_std")].value, e_test.std().item(), rel_tol=1e-5)
    gap = rows[("test-train", "train_test_gap")]
    assert math.isclose(gap.value, (e_test.mean() - e_train.mean()).item(), rel_tol=1e-4, abs_tol=1e-4)
    assert gap.higher_is_better is False
    assert (gap.ci_low, gap.ci_high) == pytest.approx(_welch_interval(e_test, e_train), rel=1e-4, abs=1e-5)
    mean = rows[("test", "energy_mean")]
    half = stats.t.ppf(0.975, len(e_test) - 1) * e_test.double().std().item() / math.sqrt(len(e_test))
    assert (mean.ci_low, mean.ci_high) == pytest.approx((mean.value - half, mean.value + half), rel=1e-4)
    assert rows[("uniform", "energy_mean")].n == 200
    margin = rows[("uniform-test", "noise_margin")]
    noise = rows[("uniform", "energy_mean")]
    e_noise = model.energy(load_dataset("uniform", "test", DataContext(shape=(1, 8, 8), n=200)).tensors()[0])
    assert math.isclose(noise.value, e_noise.mean().item(), rel_tol=1e-5)
    assert math.isclose(margin.value, e_noise.mean().item() - e_test.mean().item(), rel_tol=1e-4)
    assert (margin.ci_low, margin.ci_high) == pytest.approx(_welch_interval(e_noise.detach(), e_test), rel=1e-4)
    assert all(r.suite == "energy" and r.seed == 0 and r.dataset == "digits" for r in run.records())


def _welch_interval(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Welch's 95% interval for mean(a) - mean(b), written out (Welch-Satterthwaite degrees of freedom)."""
    a, b = a.double(), b.double()
    va, vb = a.var().item() / len(a), b.var().item() / len(b)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    diff, half = (a.mean() - b.mean()).item(), stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    return diff - half, diff + half


def test_conditional_model_uses_marginal_energy(tiny_cond_ebm_path: Path, tmp_path: Path) -> None:
    run = run_suite("energy", tiny_cond_ebm_path, tmp_path / "run", ["noise_n=20"], progress=False)
    model = load_checkpoint(tiny_cond_ebm_path).model
    test_x, _ = load_dataset("digits", "test").tensors()
    with torch.no_grad():
        expected = (-torch.logsumexp(-model.energy_all_classes(test_x), dim=1)).mean().item()
    got = next(r for r in run.records() if r.eval_set == "test" and r.metric == "energy_mean").value
    assert math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6)


def test_resumed_finished_run_scores_nothing_again(dummy_path: Path, tmp_path: Path, monkeypatch) -> None:
    run_suite("energy", dummy_path, tmp_path / "run", ["noise_n=20"], progress=False)
    before = (tmp_path / "run" / "results.jsonl").read_text()

    def fail(*args, **kwargs):
        raise AssertionError("a finished unit was scored again")

    monkeypatch.setattr("ebmbench.suites.energy.suite.score_set", fail)
    run_suite("energy", dummy_path, tmp_path / "run", ["noise_n=20"], progress=False)
    assert (tmp_path / "run" / "results.jsonl").read_text() == before
