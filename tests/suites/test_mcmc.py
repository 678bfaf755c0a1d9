"""The mcmc suite's diagnostics against known processes and an independent implementation (arviz-stats)."""

from __future__ import annotations

import numpy as np
import pytest

from ebmbench.suites.mcmc.diagnostics import autocorrelation, ess, ess_per_chain, mser_burn_in, split_rhat


def ar1(phi: float, n: int, chains: int, seed: int) -> np.ndarray:
    """Stationary AR(1) chains x_t = phi x_{t-1} + e_t."""
    rng = np.random.default_rng(seed)
    x = np.empty((chains, n))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - phi**2)
    noise = rng.normal(size=(chains, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9])
def test_ess_matches_ar1_theory(phi: float) -> None:
    n = 20_000
    chains = ar1(phi, n, 8, seed=int(phi * 10))
    expected = n * (1 - phi) / (1 + phi)
    got = ess_per_chain(chains)
    assert abs(got.mean() / expected - 1) < 0.08
    assert (np.abs(got / expected - 1) < 0.25).all()


def test_ess_of_antithetic_chain_exceeds_n() -> None:
    """Negatively correlated draws are worth more than independent ones: ESS = N (1 - phi) / (1 + phi) > N."""
    n, phi = 20_000, -0.5
    got = ess(ar1(phi, n, 1, seed=3)[0])
    assert got > n
    assert abs(got / (n * 3) - 1) < 0.15


def test_ess_of_constant_chain_is_its_length() -> None:
    assert ess(np.full(50, 2.5)) == 50.0


def test_autocorrelation_matches_direct_sum() -> None:
    x = np.random.default_rng(0).normal(size=37)
    c = x - x.mean()
    direct = np.array([(c[: len(c) - t] * c[t:]).sum() for t in range(len(c))]) / (c * c).sum()
    np.testing.assert_allclose(autocorrelation(x), direct, atol=1e-12)


def test_split_rhat_formula_by_hand() -> None:
    traces = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 5.0, 7.0]])
    halves = np.array([[1, 2], [2, 2], [3, 4], [5, 7]], dtype=float)
    n = 2
    w = halves.var(axis=1, ddof=1).mean()  # 0.5, 0, 0.5, 2 -> 0.75
    b_over_n = halves.mean(axis=1).var(ddof=1)
    assert w == pytest.approx(0.75)
    expected = np.sqrt(((n - 1) / n * w + b_over_n) / w)
    assert split_rhat(traces) == pytest.approx(expected)


def test_split_rhat_near_one_for_mixed_chains_and_large_for_stuck_ones() -> None:
    mixed = ar1(0.5, 2000, 4, seed=1)
    assert split_rhat(mixed) < 1.01
    stuck = mixed + np.arange(4)[:, None] * 3.0  # chains in different places
    assert split_rhat(stuck) > 1.5
    drifting = mixed + np.linspace(0, 10, 2000)[None]  # every chain trends: the halves disagree
    assert split_rhat(drifting) > 1.5


def test_split_rhat_refuses_too_few_chains() -> None:
    with pytest.raises(ValueError, match="2 chains"):
        split_rhat(np.zeros((1, 10)))


def test_mser_finds_the_end_of_a_transient() -> None:
    rng = np.random.default_rng(0)
    trace = np.concatenate([np.linspace(10, 0, 100), rng.normal(scale=0.1, size=900)])
    assert 90 <= mser_burn_in(trace) <= 110
    assert mser_burn_in(rng.normal(size=1000)) < 100  # stationary: little or nothing to cut


def test_mser_at_the_bound_for_a_drifting_trace() -> None:
    assert mser_burn_in(np.linspace(0, 1, 200)) == 100


def test_against_arviz_stats() -> None:
    """ESS (the "mean" method, one chain) and split R-hat agree with arviz-stats' own implementations; ESS to 3%,
    since arviz adds one more autocorrelation term where the positive sequence ends."""
    arviz = pytest.importorskip("arviz_stats.base.array")
    chains = ar1(0.8, 3000, 4, seed=7) + np.array([0.0, 0.1, 0.0, 0.3])[:, None]
    for row in chains:
        theirs = arviz.array_stats.ess(row[None], method="mean")
        assert ess(row) == pytest.approx(float(theirs), rel=0.03)
    theirs = arviz.array_stats.rhat(chains, method="split")
    assert split_rhat(chains) == pytest.approx(float(theirs), rel=1e-9)
