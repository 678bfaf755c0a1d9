"""The mcmc suite's diagnostics against known processes and an independent implementation (arviz-stats)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ebmbench.suites.mcmc.diagnostics import autocorrelation, ess, ess_per_chain, mser_burn_in, split_rhat

# the suite's short test chains do not mix, and it says so; the tests that care check the warnings themselves
pytestmark = pytest.mark.filterwarnings("ignore::ebmbench.suites.mcmc.suite.MCMCWarning")


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


# ---- traced chains and the MALA diagnostic ------------------------------------------------------------------
def _gaussian_model(shape: tuple[int, int, int] = (1, 2, 2), std: float = 0.5):
    from ebmbench.models.base import ModelInfo
    from ebmbench.models.dummy import QuadraticEnergy

    return QuadraticEnergy(ModelInfo(family="dummy", dataset="digits", input_shape=shape),
                           {"mean": 0.3, "std": std})


def test_traces_and_mala_acceptance_match_a_direct_computation() -> None:
    """With the identity as projections the traces hold the states; the MALA log acceptance of every transition
    then equals one computed from scipy's Gaussian densities (target exp(-E), textbook proposal)."""
    from scipy.stats import multivariate_normal

    from ebmbench.sampler import LangevinConfig
    from ebmbench.suites.mcmc.chains import implied_temperature, run_traced

    model = _gaussian_model()
    config = LangevinConfig.textbook(eps=0.05, steps=6)
    assert implied_temperature(config) == pytest.approx(1.0)
    starts = torch.rand((3, 1, 2, 2), generator=torch.Generator().manual_seed(0))
    traces = run_traced(model, config, None, starts, torch.eye(4, dtype=torch.float64),
                        torch.Generator().manual_seed(1))
    assert traces.energy.shape == (3, 7) and traces.projections.shape == (3, 4, 7)
    assert traces.log_accept.shape == (3, 6)
    states = traces.projections.transpose(0, 2, 1)  # chains x steps x 4
    np.testing.assert_allclose(states[:, 0], starts.flatten(1).numpy(), atol=1e-6)

    def energy(x: np.ndarray) -> float:
        return float(((x - 0.3) ** 2).sum() / (2 * 0.25))

    def log_q(b: np.ndarray, a: np.ndarray) -> float:
        mean = a - 0.05 * (a - 0.3) / 0.25
        return multivariate_normal(mean=mean, cov=2 * 0.05 * np.eye(4)).logpdf(b)

    for c in range(3):
        for t in range(6):
            a, b = states[c, t], states[c, t + 1]
            assert traces.energy[c, t] == pytest.approx(energy(a), rel=1e-5)
            expected = min(0.0, -(energy(b) - energy(a)) + log_q(a, b) - log_q(b, a))
            assert traces.log_accept[c, t] == pytest.approx(expected, abs=1e-4)


def test_mala_acceptance_falls_with_the_step_size() -> None:
    from ebmbench.sampler import LangevinConfig
    from ebmbench.suites.mcmc.chains import random_directions, run_traced

    model = _gaussian_model((1, 4, 4), std=0.2)
    starts = 0.3 + 0.2 * torch.randn((64, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    rates = []
    for eps in (1e-4, 1e-2, 5e-2):
        traces = run_traced(model, LangevinConfig.textbook(eps=eps, steps=20), None, starts,
                            random_directions(2, (1, 4, 4), seed=0), torch.Generator().manual_seed(1))
        rates.append(float(np.exp(traces.log_accept).mean()))
    assert rates[0] > 0.99
    assert rates[0] > rates[1] > rates[2]


def test_random_directions_are_fixed_unit_vectors() -> None:
    from ebmbench.suites.mcmc.chains import random_directions

    v = random_directions(3, (1, 8, 8), seed=5)
    assert v.shape == (3, 64)
    np.testing.assert_allclose(v.norm(dim=1).numpy(), 1.0)
    assert torch.equal(v, random_directions(3, (1, 8, 8), seed=5))


# ---- the suite ----------------------------------------------------------------------------------------------
def test_suite_records_equal_the_diagnostics_of_its_saved_traces(dummy_path, tmp_path) -> None:
    from ebmbench.runner import run_suite

    settings = ["chains=3", "steps=40", "sampler.step_size=0.0005", "sampler.noise=0.03162", "sampler.grad_clip=none",
                "projections=2"]
    run = run_suite("mcmc", dummy_path, tmp_path / "run", settings, progress=False)
    rows = {r.metric: r for r in run.records()}
    saved = np.load(run.path / "traces.npz")
    energy = saved["energy"].astype(np.float64)
    assert energy.shape == (3, 41) and saved["projections"].shape == (3, 2, 41)
    assert saved["log_accept"].shape == (3, 40)
    burn = mser_burn_in(energy.mean(axis=0))
    assert rows["burn_in"].value == burn
    assert rows["ess_energy"].value == pytest.approx(ess_per_chain(energy[:, burn:]).mean(), rel=1e-4)
    assert rows["rhat_energy"].value == pytest.approx(split_rhat(energy[:, burn:]), rel=1e-4)
    assert rows["mala_acceptance"].value == pytest.approx(np.exp(saved["log_accept"]).mean(), rel=1e-4)
    assert rows["mala_acceptance"].extra["temperature"] == pytest.approx(0.03162**2 / 0.001)
    assert rows["ess_energy"].ci_low <= rows["ess_energy"].value <= rows["ess_energy"].ci_high
    assert {f"sanity_{c}" for c in ("rhat", "burn_in", "ess", "mala")} <= set(rows)
    for name in ("energy_trace.png", "groups.csv", "warnings.json"):
        assert (run.path / name).exists(), name


def test_chains_from_different_seeds_differ_and_runs_repeat(dummy_path, tmp_path) -> None:
    from ebmbench.runner import run_suite

    a = run_suite("mcmc", dummy_path, tmp_path / "a", ["chains=2", "steps=10"], progress=False)
    b = run_suite("mcmc", dummy_path, tmp_path / "b", ["chains=2", "steps=10"], progress=False)
    ea, eb = np.load(a.path / "traces.npz")["energy"], np.load(b.path / "traces.npz")["energy"]
    np.testing.assert_array_equal(ea, eb)
    assert not np.allclose(ea[0, 0], ea[1, 0])  # different starts


def test_stuck_chains_are_reported_as_sanity_failures(dummy_path, tmp_path) -> None:
    """A step far too small to move: the chains stay where their seeds put them, so R-hat is large and the
    checks say so."""
    from ebmbench.runner import run_suite

    with pytest.warns(UserWarning, match="R-hat"):
        run = run_suite("mcmc", dummy_path, tmp_path / "run", ["chains=4", "steps=20", "sampler.step_size=1e-9",
                                                               "sampler.noise=1e-6", "sampler.grad_clip=none"],
                        progress=False)
    rows = {r.metric: r for r in run.records()}
    assert rows["rhat_energy"].value > 1.5
    assert rows["sanity_rhat"].value == 1 and rows["sanity_rhat"].extra["passed"] is False


def test_conditional_model_gets_chains_per_label(tiny_cond_ebm_path, tmp_path) -> None:
    from ebmbench.runner import run_suite

    run = run_suite("mcmc", tiny_cond_ebm_path, tmp_path / "run", ["chains=2", "labels=3", "steps=8"],
                    progress=False)
    saved = np.load(run.path / "traces.npz")
    np.testing.assert_array_equal(saved["labels"], [0, 0, 1, 1, 2, 2])
    groups = (run.path / "groups.csv").read_text().splitlines()
    assert [g.split(",")[0] for g in groups[1:]] == ["label:0", "label:1", "label:2"]
    assert {r.n for r in run.records() if r.metric.startswith("rhat")} == {3}


def test_bad_options_are_one_line_errors(dummy_path, tmp_path) -> None:
    from ebmbench.errors import EbmbenchError
    from ebmbench.runner import run_suite

    with pytest.raises(EbmbenchError, match="chains must be at least 2"):
        run_suite("mcmc", dummy_path, tmp_path / "run", ["chains=1"], progress=False)
    with pytest.raises(EbmbenchError, match="mala_temperature"):
        run_suite("mcmc", dummy_path, tmp_path / "run", ["mala_temperature=hot"], progress=False)


def test_buffer_protocol_follows_one_chain_through_every_pass(dummy_path, tmp_path) -> None:
    from ebmbench.runner import run_suite

    run = run_suite("mcmc", dummy_path, tmp_path / "run", ["chains=2", "protocol=buffer", "steps=8", "rounds=2"],
                    progress=False)
    assert np.load(run.path / "traces.npz")["energy"].shape == (2, 8 * 3 + 1)
    assert {r.extra["chain_steps"] for r in run.records() if "chain_steps" in r.extra} == {24}
