"""The tests behind compare's verdicts, against independent computations (binomial sums by hand, Welch's t
and Satterthwaite's degrees of freedom by hand, scikit-learn on resampled indices, a worked Holm example)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from ebmbench.reports import paired as P


def test_mcnemar_exact_is_the_binomial_tail_of_the_discordant_pairs() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        base = rng.random(120) < 0.7
        cand = np.where(rng.random(120) < 0.2, ~base, base)
        b, c = int(np.sum(base & ~cand)), int(np.sum(~base & cand))
        by_hand = sum(math.comb(b + c, k) for k in range(b, b + c + 1)) / 2 ** (b + c)
        result = P.mcnemar_exact(base, cand)
        assert result.p == pytest.approx(by_hand, rel=1e-9, abs=1e-15)
        assert result.p == pytest.approx(stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue)
        assert f"{b} vs {c}" in result.method


def test_mcnemar_without_discordant_examples_is_one() -> None:
    same = np.array([True, False, True])
    assert P.mcnemar_exact(same, same).p == 1.0


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_welch_matches_the_textbook_formula(higher_is_better: bool) -> None:
    base, cand = np.array([15.4, 16.1, 16.0, 16.4, 15.3]), np.array([16.9, 17.8, 16.2, 17.5])
    va, vb = base.var(ddof=1) / len(base), cand.var(ddof=1) / len(cand)
    t = (cand.mean() - base.mean()) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (len(base) - 1) + vb ** 2 / (len(cand) - 1))
    expected = stats.t.cdf(t, dof) if higher_is_better else stats.t.sf(t, dof)  # worse = lower / higher
    result = P.welch(base, cand, higher_is_better)
    assert result is not None and result.p == pytest.approx(expected, rel=1e-10)
    reference = stats.ttest_ind(cand, base, equal_var=False,
                                alternative="less" if higher_is_better else "greater").pvalue
    assert result.p == pytest.approx(reference, rel=1e-12)
    assert P.welch([1.0], [1.0, 2.0], True) is None and P.welch([1.0, 1.0], [2.0, 2.0], True) is None


def test_paired_t_matches_the_textbook_formula() -> None:
    rng = np.random.default_rng(3)
    base = rng.random(50)
    cand = base - 0.05 + 0.1 * rng.standard_normal(50)
    d = cand - base
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    result = P.paired_t(base, cand, True)
    assert result is not None and result.p == pytest.approx(stats.t.cdf(t, len(d) - 1), rel=1e-10)


def test_holm_on_a_worked_example() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> 0.06 (monotone)
    assert P.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert P.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert P.holm([]) == []


def test_bootstrap_test_is_a_z_test_on_the_resampled_difference() -> None:
    rng = np.random.default_rng(0)
    reps_b, reps_c = 0.9 + 0.01 * rng.standard_normal(500), 0.88 + 0.01 * rng.standard_normal(500)
    result = P.bootstrap_test((0.9, 0.87), reps_b, reps_c, True, paired=True)
    sd = np.std(reps_b - reps_c, ddof=1)
    assert result.p == pytest.approx(stats.norm.sf(0.03 / sd)) and "paired" in result.method
    lower = P.bootstrap_test((0.1, 0.13), 1 - reps_b, 1 - reps_c, False, paired=False)
    assert lower.p == pytest.approx(result.p) and "different images" in lower.method


def test_weighted_metrics_equal_sklearn_on_the_resampled_indices() -> None:
    from ebmbench.suites.ood.metrics import weighted_metrics

    rng = np.random.default_rng(5)
    s_in, s_out = rng.normal(1, 1, 40), rng.normal(0, 1, 30)
    w_in = P.bootstrap_counts(rng, 40, 6)
    w_out = P.bootstrap_counts(rng, 30, 6)
    aurocs = weighted_metrics(s_in, s_out, w_in, w_out)["auroc"]
    for r in range(6):
        x_in, x_out = np.repeat(s_in, w_in[r].astype(int)), np.repeat(s_out, w_out[r].astype(int))
        labels = np.r_[np.ones(len(x_in)), np.zeros(len(x_out))]
        assert aurocs[r] == pytest.approx(roc_auc_score(labels, np.r_[x_in, x_out]), abs=1e-12)
