"""The robustness suite against independent references: direct torchattacks calls, a hand-written purification
loop, finite differences, scipy's standard error; plus the sanity checks and the digits' transfer-vs-adaptive
acceptance check on a tiny, quickly trained conditional EBM."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from scipy import stats

from ebmbench.checkpoint import load_checkpoint, save_checkpoint
from ebmbench.data.base import load_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.intervals import wilson
from ebmbench.models.base import ModelInfo
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch
from ebmbench.options import build_options
from ebmbench.runner import run_suite
from ebmbench.sampler import LangevinOptions, make_generator
from ebmbench.suites.robustness.attacks import (
    AttackSpec,
    attack_batches,
    attack_seed,
    lp_distance,
    make_attack,
    parse_eps,
)
from ebmbench.suites.robustness.eval import Accuracy, batch_seed, draw_seed, evaluate
from ebmbench.suites.robustness.sanity import Outcome, run_checks
from ebmbench.suites.robustness.spec import CHECKS
from ebmbench.suites.robustness.suite import RobustnessOptions, RobustnessSuite
from ebmbench.suites.robustness.views import PlainView, Purification, PurifiedView

SEED = 3


@pytest.fixture(scope="module")
def digits_ebm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-8 conditional digits EBM whose classifier view is accurate (trained on -E(x, y) as logits with
    cross-entropy for a few seconds): the smallest model on which attacks and purification mean something."""
    torch.manual_seed(0)
    x, y = load_dataset("digits", "train").tensors()
    model = EnergyModel(ModelInfo("ebm", "digits", (1, 8, 8), 10, conditional=True), resolve_arch("small", width=8))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(60):
        idx = torch.randint(0, len(x), (64,), generator=gen)
        loss = F.cross_entropy(model.logits(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "disc-cebm.safetensors", model.eval())


def _records(run_dir, metric: str = "robust_accuracy") -> dict[tuple, object]:
    return {(r.model, r.extra.get("defense"), r.extra.get("threat_model"), r.extra.get("norm"),
             r.extra.get("epsilon_label")): r for r in run_dir.records() if r.metric == metric}


def _run_cebm(checkpoint: Path, out: Path, settings: list[str]):
    """The robustness suite on the digits EBM (named ``cebm``) on the CPU with the tests' seed."""
    return run_suite("robustness", checkpoint, out, settings, device="cpu", progress=False, seed=SEED,
                     model_name="cebm")


def _test_subset(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return load_dataset("digits", "test").tensors(n, seed=SEED)


# --- acceptance: plain classifier == direct torchattacks ---------------------------------------------------------

def test_plain_classifier_robust_accuracy_equals_direct_torchattacks(tiny_classifier_path: Path,
                                                                     tmp_path: Path) -> None:
    settings = ["n=40", "linf_eps=0.1", "l2_eps=0.5", "steps=4", "restarts=2", "default_baselines=false"]
    run = run_suite("robustness", tiny_classifier_path, tmp_path / "run", settings, device="cpu", seed=SEED,
                    progress=False)
    got = _records(run)
    model = load_checkpoint(tiny_classifier_path).model.eval()
    x, y = _test_subset(40)
    for norm, eps, label, cls in (("linf", 0.1, "0.1", torchattacks.PGD), ("l2", 0.5, "0.5", torchattacks.PGDL2)):
        survived = torch.ones(len(y), dtype=torch.bool)
        for restart in range(2):
            torch.manual_seed(attack_seed(SEED, restart, 0))  # one batch: n=40 < batch_size
            adv = cls(model.logits_module(), eps=eps, alpha=2.5 * eps / 4, steps=4, random_start=True)(x, y)
            survived &= model.logits(adv).argmax(1) == y
        record = got[("clf", "none", "white-box", norm, label)]
        assert record.value == pytest.approx(survived.float().mean().item(), abs=1e-12)
        assert record.extra["draws"] == 1 and record.extra["restarts"] == 2
    clean = _records(run, "clean_accuracy")[("clf", "none", "clean", None, None)]
    assert clean.value == pytest.approx((model.logits(x).argmax(1) == y).float().mean().item())
    assert set(_records(run)) == {("clf", "none", "white-box", n, e) for n, e in (("linf", "0.1"), ("l2", "0.5"))}


# --- attacks stay in the ball and the data range -----------------------------------------------------------------

@pytest.mark.parametrize("norm,eps", [("linf", 0.15), ("l2", 0.7)])
def test_adversarial_examples_stay_in_ball_and_range(digits_ebm_path: Path, norm: str, eps: float) -> None:
    model = load_checkpoint(digits_ebm_path).model
    x, y = _test_subset(8)
    purification = Purification(steps=2, radius=0.1)
    views = [(PlainView(model), 1, False), (PurifiedView(model, purification, "bpda"), 2, True),
             (PurifiedView(model, purification, "full"), 2, True)]
    for view, eot, stochastic in views:
        spec = AttackSpec(norm, eps, steps=2, step_size=eps, restarts=2, eot=eot)  # type: ignore[arg-type]
        for adv in attack_batches(view, x, y, spec, 10, 0, stochastic, 3, torch.device("cpu")):
            assert adv.shape == x.shape
            assert lp_distance(adv, x, norm).max().item() <= eps + 1e-5  # type: ignore[arg-type]
            assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0
            assert lp_distance(adv, x, norm).max().item() > 0.5 * eps  # it did move  # type: ignore[arg-type]


def test_purified_bpda_eot_accuracy_equals_direct_torchattacks_eotpgd(digits_ebm_path: Path,
                                                                      tmp_path: Path) -> None:
    """The adaptive threat model end to end against torchattacks.EOTPGD called directly on the purified view,
    scored over the documented evaluation draws (generator seeds 1_000_003 * (seed + 1) + draw)."""
    settings = ["n=24", "norms=linf", "linf_eps=0.1", "steps=3", "adaptive=bpda+eot", "eot=2", "draws=2",
                "purify_steps=2", "default_baselines=false"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = _run_cebm(digits_ebm_path, tmp_path / "run", settings)
    model = load_checkpoint(digits_ebm_path).model.eval()
    x, y = _test_subset(24)
    # the documented defaults for a conditional digits model: radius 0.1, one chain per label
    view = PurifiedView(model, Purification(steps=2, sampler=LangevinOptions(10.0, 0.005, 0.01), radius=0.1,
                                            per_class=True), "bpda")
    torch.manual_seed(attack_seed(SEED, 0, 0))
    adv = torchattacks.EOTPGD(view, eps=0.1, alpha=2.5 * 0.1 / 3, steps=3, eot_iter=2, random_start=True)(x, y)

    def accuracy(images: torch.Tensor) -> float:
        with torch.no_grad():
            return float(np.mean([(view.with_generator(make_generator(batch_seed(draw_seed(SEED, d), 0), "cpu"))(images)
                                   .argmax(1) == y).float().mean().item() for d in range(2)]))

    got = _records(run)[("cebm", "langevin", "bpda+eot", "linf", "0.1")]
    assert got.value == pytest.approx(accuracy(adv))
    clean = _records(run, "clean_accuracy")[("cebm", "langevin", "clean", None, None)]
    assert clean.value == pytest.approx(accuracy(x))


# --- classifier views ----------------------------------------------------------------------------------------------

def test_plain_view_of_conditional_ebm_is_minus_energy_per_label(digits_ebm_path: Path) -> None:
    model = load_checkpoint(digits_ebm_path).model
    x, _ = _test_subset(5)
    expected = torch.stack([-model.energy(x, torch.full((5,), k)) for k in range(10)], dim=1)
    assert torch.allclose(PlainView(model)(x), expected, atol=1e-5)


def test_purified_view_matches_reference_langevin_loop(digits_ebm_path: Path) -> None:
    """Per-class chains: x <- box(clamp(x - s * clip(dE/dx) + noise)), noise drawn in the chain's order."""
    model = load_checkpoint(digits_ebm_path).model
    x, _ = _test_subset(4)
    p = Purification(steps=3, sampler=LangevinOptions(10.0, 0.01, 0.01), radius=0.05)
    got = PurifiedView(model, p, generator=make_generator(11, "cpu"))(x)
    gen = make_generator(11, "cpu")
    labels = torch.arange(10).repeat(4)
    start = x.repeat_interleave(10, dim=0)
    chain = start.clone()
    for _ in range(3):
        chain.requires_grad_(True)
        (grad,) = torch.autograd.grad(model.energy(chain, labels).sum(), chain)
        chain = chain.detach() - 10.0 * grad.clamp(-0.01, 0.01) + 0.01 * torch.randn(chain.shape, generator=gen)
        chain = torch.minimum(torch.maximum(chain.clamp(0, 1), start - 0.05), start + 0.05)
    assert torch.allclose(got, -model.energy(chain, labels).view(4, 10), atol=1e-5)


def test_full_gradient_matches_finite_differences_and_bpda_is_straight_through(digits_ebm_path: Path) -> None:
    model = load_checkpoint(digits_ebm_path).model.double()
    x, y = _test_subset(2)
    x = (0.25 + 0.5 * x).double()  # away from the data-range clamp, where the chain is smooth
    p = Purification(steps=2, sampler=LangevinOptions(0.05, 0.0, None), radius=None)
    full, bpda = PurifiedView(model, p, "full"), PurifiedView(model, p, "bpda")

    def loss(view, inp):
        return F.cross_entropy(view(inp), y, reduction="sum")

    xg = x.clone().requires_grad_(True)
    (g_full,) = torch.autograd.grad(loss(full, xg), xg)
    h, idx = 1e-5, [(0, 0, 3, 3), (1, 0, 5, 2), (0, 0, 1, 6)]
    for i in idx:
        bump = torch.zeros_like(x)
        bump[i] = h
        numeric = (loss(full, x + bump) - loss(full, x - bump)).item() / (2 * h)
        assert g_full[i].item() == pytest.approx(numeric, rel=1e-4, abs=1e-7)
    xg = x.clone().requires_grad_(True)
    (g_bpda,) = torch.autograd.grad(loss(bpda, xg), xg)
    k = 10
    labels = torch.arange(k).repeat(2)
    chain = x.repeat_interleave(k, dim=0)
    for _ in range(2):
        chain.requires_grad_(True)
        (grad,) = torch.autograd.grad(model.energy(chain, labels).sum(), chain)
        chain = (chain.detach() - 0.05 * grad).clamp(0, 1)
    z = chain.clone().requires_grad_(True)
    logits = -model.energy(z, labels).view(2, k)
    (g_end,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), z)
    assert torch.allclose(g_bpda, g_end.view(2, k, 1, 8, 8).sum(1), atol=1e-10)
    assert not torch.allclose(g_bpda, g_full, atol=1e-6)


# --- evaluation statistics -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 1, 17, 79, 80])
def test_accuracy_interval_is_scipys_wilson_interval(k: int) -> None:
    acc = Accuracy(torch.tensor([[True] * k + [False] * (80 - k)]))
    ref = stats.binomtest(k, 80).proportion_ci(confidence_level=0.95, method="wilson")
    assert acc.ci() == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert acc.ci()[1] - acc.ci()[0] > 0.02  # never collapses at the ends, as the normal interval did


def test_accuracy_over_draws_scores_each_example_by_its_mean() -> None:
    correct = torch.rand(4, 50, generator=torch.Generator().manual_seed(0)) < 0.6
    acc = Accuracy(correct)
    per_example = correct.float().mean(0).numpy()
    assert acc.value == pytest.approx(per_example.mean())
    assert acc.ci() == pytest.approx(wilson(per_example.sum(), 50))
    assert acc.draw_std == pytest.approx(np.std(correct.float().mean(1).numpy(), ddof=1))


def test_stochastic_evaluation_repeats_and_survives_only_all_restarts(digits_ebm_path: Path) -> None:
    model = load_checkpoint(digits_ebm_path).model
    x, y = _test_subset(30)
    view = PurifiedView(model, Purification(steps=2, sampler=LangevinOptions(noise=0.05), radius=0.1))
    noisy = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    a = evaluate(view, [x, noisy], y, draws=3, seed=0, batch_size=7, device=torch.device("cpu"))
    b = evaluate(view, [x, noisy], y, draws=3, seed=0, batch_size=7, device=torch.device("cpu"))
    assert torch.equal(a.correct, b.correct) and a.correct.shape == (3, 30)
    only_clean = evaluate(view, [x], y, draws=3, seed=0, batch_size=7, device=torch.device("cpu"))
    only_noisy = evaluate(view, [noisy], y, draws=3, seed=0, batch_size=7, device=torch.device("cpu"))
    assert torch.equal(a.correct, only_clean.correct & only_noisy.correct)


# --- sanity checks -------------------------------------------------------------------------------------------------

def _acc(*rows: list[int]) -> Accuracy:
    return Accuracy(torch.tensor(rows, dtype=torch.bool))


def test_sanity_checks_flag_what_they_should_and_not_noise() -> None:
    n = 40
    clean = {("m", "langevin"): _acc([1] * 30 + [0] * 10)}
    o = [Outcome("m", "langevin", "transfer-from-classifier", "linf", 0.0, "0", _acc([1] * 29 + [0] * 11)),
         Outcome("m", "langevin", "transfer-from-classifier", "linf", 0.1, "0.1", _acc([1] * 10 + [0] * 30)),
         Outcome("m", "langevin", "transfer-from-classifier", "linf", 0.2, "0.2", _acc([1] * 30 + [0] * 10)),
         Outcome("m", "langevin", "bpda+eot", "linf", 0.1, "0.1", _acc([1] * 30 + [0] * 10)),
         Outcome("m", "langevin", "bpda+eot", "linf", 0.2, "0.2", _acc([1] * 8 + [0] * 32)),
         Outcome("m", "langevin", "transfer-from:clf", "linf", 0.2, "0.2", _acc([0] * n)),
         Outcome("m", "none", "white-box", "linf", 0.1, "0.1", _acc([1] * 20 + [0] * 20)),
         Outcome("m", "none", "white-box", "linf", 0.2, "0.2", _acc([1] * 19 + [0] * 21))]
    counts, found = run_checks(o, clean)
    flagged = {(w["check"], w["threat_model"], w["epsilon_label"]) for w in found}
    assert flagged == {("eps0_clean", "transfer-from-classifier", "0"),
                       ("monotone", "transfer-from-classifier", "0.2"),
                       ("adaptive_vs_transfer", "bpda+eot", "0.1"),
                       ("masked_gradients", "bpda+eot", "0.2")}
    assert counts["monotone"] == 4 and counts["adaptive_vs_transfer"] == 2 and counts["eps0_clean"] == 1


# --- acceptance: the digits with purification, transfer and adaptive side by side -------------------------------

def test_digits_purification_transfer_and_adaptive_side_by_side(digits_ebm_path: Path, tmp_path: Path) -> None:
    settings = ["n=48", "linf_eps=0,0.1", "norms=linf", "steps=5", "eot=2", "draws=3", "purify_steps=3",
                "default_baselines=false", "square_queries=0"]
    with warnings.catch_warnings(record=True):
        run = _run_cebm(digits_ebm_path, tmp_path / "run", settings)
    got = _records(run)
    transfer = got[("cebm", "langevin", "transfer-from-classifier", "linf", "0.1")]
    assert transfer.extra["draws"] == 3 and transfer.ci_low is not None
    table = (tmp_path / "run" / "robustness.md").read_text()
    for adaptive in ("bpda+eot", "full"):
        record = got[("cebm", "langevin", adaptive, "linf", "0.1")]
        assert record.extra["threat_model"] == adaptive and record.extra["epsilon"] == 0.1
        spread = (transfer.ci_high - transfer.ci_low) / 2
        assert record.value <= transfer.value + spread
        assert f"| cebm | langevin | {adaptive} |" in table
    assert "| cebm | langevin | transfer-from-classifier |" in table
    clean = _records(run, "clean_accuracy")[("cebm", "langevin", "clean", None, None)]
    assert clean.value > 0.5
    assert got[("cebm", "langevin", "bpda+eot", "linf", "0")].value == clean.value
    assert (tmp_path / "run" / "robustness_curves.png").stat().st_size > 0
    sanity = _records(run, "sanity_eps0_clean")
    assert next(iter(sanity.values())).value == 0
    found = json.loads((tmp_path / "run" / "warnings.json").read_text())
    for check in CHECKS:  # warnings.json holds exactly the failures that the sanity_* records count
        record = next(iter(_records(run, f"sanity_{check}").values()))
        assert sum(w["check"] == check for w in found) == record.value
        assert record.extra["passed"] == (record.value == 0)
    assert all(w["check"] in CHECKS and w["model"] == "cebm" and w["message"] for w in found)


def test_resumed_run_skips_finished_units_and_keeps_sanity(digits_ebm_path: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ["n=20", "linf_eps=0,0.1", "norms=linf", "steps=2", "adaptive=bpda+eot", "eot=1", "draws=2",
                "purify_steps=1", "default_baselines=false", "square_queries=5"]
    first = run_suite("robustness", digits_ebm_path, tmp_path / "run", settings, device="cpu", progress=False)
    before = {(r.metric, r.eval_set, r.model): r.value for r in first.records()}
    units = {r.extra["unit"] for r in first.records()}
    assert {"clean", "linf@0", "linf@0.1", "sanity"} <= units

    def checked(run):  # how many numbers each sanity check examined: recomputed from the per-example files
        return {r.metric: r.n for r in run.records() if r.metric.startswith("sanity_")}

    examined = checked(first)

    def no_recompute(*args, **kwargs):
        raise AssertionError("a finished unit was attacked or evaluated again")

    monkeypatch.setattr("ebmbench.suites.robustness.suite.attack_batches", no_recompute)
    monkeypatch.setattr("ebmbench.suites.robustness.suite.evaluate", no_recompute)
    with pytest.raises(AssertionError, match="finished unit"):  # the guard fires wherever work is left to do
        run_suite("robustness", digits_ebm_path, tmp_path / "fresh", settings, device="cpu", progress=False)
    again = run_suite("robustness", digits_ebm_path, tmp_path / "run", settings, device="cpu", progress=False)
    after = {(r.metric, r.eval_set, r.model): r.value for r in again.records()}
    assert before == after
    assert ("sanity_eps0_clean", "all", "disc-cebm") in after
    assert checked(again) == examined and len(examined) == len(CHECKS) and sum(examined.values()) > 0


def test_default_digits_baselines_are_trained_cached_and_attacked(digits_ebm_path: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from ebmbench.suites.robustness import suite as robustness_suite

    tiny = tuple(replace(r, settings={**r.settings, "width": 4, "iterations": 4, "batch_size": 32,
                                      "checkpoint_every": 4}) for r in robustness_suite.DEFAULT_BASELINES)
    monkeypatch.setattr(robustness_suite, "DEFAULT_BASELINES", tiny)
    settings = ["n=16", "linf_eps=0.1", "norms=linf", "steps=2", "adaptive=", "purify_steps=0"]
    run = run_suite("robustness", digits_ebm_path, tmp_path / "run", settings, device="cpu", progress=False,
                    cache_dir=tmp_path / "cache", model_name="cebm")
    got = _records(run)
    assert {k[:3] for k in got} == {("classifier", "none", "white-box"), ("classifier-pgd", "none", "white-box"),
                                   ("cebm", "none", "white-box"), ("cebm", "none", "transfer-from:classifier"),
                                   ("cebm", "none", "transfer-from:classifier-pgd")}
    assert len(list((tmp_path / "cache" / "models").glob("classifier-digits-*.safetensors"))) == 2


# --- controls: the noise-only purification, the Square attack, identical outcomes ---------------------------------

def test_noise_only_control_is_the_same_chain_without_the_energy_gradient(digits_ebm_path: Path) -> None:
    model = load_checkpoint(digits_ebm_path).model
    x, _ = _test_subset(6)
    purification = Purification(steps=3, sampler=LangevinOptions(step_size=1.0, noise=0.05, grad_clip=1.0),
                                radius=0.1, per_class=False)
    control = PurifiedView(model, purification.control(), generator=make_generator(4, "cpu"))
    assert purification.control().describe().startswith("noise-only(K=3, step=1, noise=0.05, clip=1.0, radius=0.1")
    gen, z = make_generator(4, "cpu"), x.clone()
    for _ in range(3):  # the control's chain by hand: noise, the data range, the box; no gradient at all
        z = (z + 0.05 * torch.randn(z.shape, generator=gen)).clamp(0, 1)
        z = torch.minimum(torch.maximum(z, x - 0.1), x + 0.1)
    assert torch.allclose(control(x), model.logits(z), atol=1e-6)
    energy = PurifiedView(model, purification, generator=make_generator(4, "cpu"))
    assert not torch.allclose(energy(x), control(x), atol=1e-4)


def test_control_rows_and_paired_gains_under_the_same_threat_models(digits_ebm_path: Path, tmp_path: Path) -> None:
    settings = ["n=30", "linf_eps=0,0.1", "norms=linf", "steps=2", "adaptive=bpda+eot", "eot=1", "draws=2",
                "purify_steps=2", "default_baselines=false", "square_queries=0"]
    run = _run_cebm(digits_ebm_path, tmp_path / "run", settings)
    got = _records(run)
    for threat in ("transfer-from-classifier", "bpda+eot"):
        assert ("cebm", "noise-only", threat, "linf", "0.1") in got
        assert got[("cebm", "noise-only", threat, "linf", "0.1")].extra["purification"].startswith("noise-only(")
    gains = _records(run, "purification_gain")
    arrays = np.load(tmp_path / "run" / "per_example" / "linf@0.1.npz")
    for threat in ("transfer-from-classifier", "bpda+eot"):
        gain = gains[("cebm", "langevin-vs-noise-only", threat, "linf", "0.1")]
        ours = arrays[f"cebm|langevin|{threat}"].astype(float).mean(0)
        control = arrays[f"cebm|noise-only|{threat}"].astype(float).mean(0)
        diff = ours - control
        ref = stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(), scale=stats.sem(diff)) if diff.std() else (
            diff.mean(), diff.mean())
        assert gain.value == pytest.approx(diff.mean()) and (gain.ci_low, gain.ci_high) == pytest.approx(ref)
        assert gain.value == pytest.approx(got[("cebm", "langevin", threat, "linf", "0.1")].value
                                           - got[("cebm", "noise-only", threat, "linf", "0.1")].value)
    assert "Gain over the noise-only control" in (tmp_path / "run" / "robustness.md").read_text()


@pytest.mark.parametrize("norm,eps", [("linf", 0.2), ("l2", 1.0)])
def test_square_attack_equals_direct_torchattacks_call(digits_ebm_path: Path, norm: str, eps: float) -> None:
    model = load_checkpoint(digits_ebm_path).model
    x, y = _test_subset(12)
    spec = AttackSpec(norm, eps, steps=20, step_size=0.0, kind="square")  # type: ignore[arg-type]
    (ours,) = attack_batches(PlainView(model), x, y, spec, 10, SEED, False, 5, torch.device("cpu"))
    ref_attack = torchattacks.Square(PlainView(model), norm="Linf" if norm == "linf" else "L2", eps=eps,
                                     n_queries=20, seed=SEED)
    ref = torch.cat([ref_attack(xb, yb) for xb, yb in zip(x.split(5), y.split(5), strict=True)])
    assert torch.equal(ours, ref)
    assert lp_distance(ours, x, norm).max().item() <= eps + 1e-5  # type: ignore[arg-type]
    assert (PlainView(model)(ours).argmax(1) != y).sum() >= (PlainView(model)(x).argmax(1) != y).sum()


def test_square_rows_on_the_purified_view(digits_ebm_path: Path, tmp_path: Path) -> None:
    settings = ["n=12", "linf_eps=0.2", "l2_eps=1", "steps=2", "adaptive=", "draws=1", "purify_steps=1",
                "default_baselines=false", "square_queries=10", "control=false"]
    run = _run_cebm(digits_ebm_path, tmp_path / "run", settings)
    got = _records(run)
    for norm, eps in (("linf", "0.2"), ("l2", "1")):
        square = got[("cebm", "langevin", "square", norm, eps)]
        assert square.extra["attack"] == "square" and square.extra["steps"] == 10
        assert 0 <= square.value <= 1
    assert not any(k[1] == "noise-only" for k in got)


def test_adaptive_outcomes_identical_to_the_transfer_attack_are_flagged() -> None:
    same = [1] * 12 + [0] * 8
    o = [Outcome("m", "langevin", "transfer-from-classifier", "linf", 0.1, "0.1", _acc(same, same)),
         Outcome("m", "langevin", "bpda+eot", "linf", 0.1, "0.1", _acc(same, same)),
         Outcome("m", "langevin", "transfer-from-classifier", "linf", 0.2, "0.2", _acc(same, same)),
         Outcome("m", "langevin", "bpda+eot", "linf", 0.2, "0.2", _acc(same, [0, *same[1:]])),
         Outcome("m", "langevin", "transfer-from-classifier", "linf", 0.3, "0.3", _acc([0] * 20)),
         Outcome("m", "langevin", "bpda+eot", "linf", 0.3, "0.3", _acc([0] * 20))]
    counts, found = run_checks(o, {})
    flagged = [(w["epsilon_label"]) for w in found if w["check"] == "adaptive_equals_transfer"]
    assert flagged == ["0.1"] and counts["adaptive_equals_transfer"] == 3
    assert "under-powered" in next(w["message"] for w in found if w["check"] == "adaptive_equals_transfer")


def test_a_gradient_free_attack_beating_the_white_box_ones_means_masked_gradients() -> None:
    o = [Outcome("m", "langevin", "bpda+eot", "linf", 0.1, "0.1", _acc([1] * 30 + [0] * 10)),
         Outcome("m", "langevin", "square", "linf", 0.1, "0.1", _acc([1] * 5 + [0] * 35))]
    _, found = run_checks(o, {})
    assert [(w["check"], w["threat_model"]) for w in found] == [("masked_gradients", "bpda+eot")]
    assert "gradient-free" in found[0]["message"]


# --- options -------------------------------------------------------------------------------------------------------

def test_options_epsilons_and_quickstart_settings() -> None:
    assert parse_eps("8/255") == pytest.approx(8 / 255) and parse_eps("0.3") == 0.3
    with pytest.raises(EbmbenchError):
        parse_eps("eight")
    options = build_options(RobustnessOptions, RobustnessSuite.quickstart)
    assert options.steps >= 1 and "0" in options.linf_eps


def test_bad_options_and_baselines_fail_fast(tiny_classifier_path: Path, tiny_ebm_path: Path, tmp_path: Path) -> None:
    with pytest.raises(EbmbenchError, match="unknown norm"):
        run_suite("robustness", tiny_classifier_path, tmp_path / "run", ["norms=l1"], device="cpu", progress=False)
    with pytest.raises(EbmbenchError, match="logits"):
        run_suite("robustness", tiny_classifier_path, tmp_path / "run", [], baselines={"u": tiny_ebm_path},
                  device="cpu", progress=False)
    assert not (tmp_path / "run" / "manifest.json").exists()


# --- optional AutoAttack -------------------------------------------------------------------------------------------

def test_autoattack_versions_follow_the_view(digits_ebm_path: Path) -> None:
    model = load_checkpoint(digits_ebm_path).model
    spec = AttackSpec("l2", 0.5, 3, 0.4, kind="autoattack")
    plain = make_attack(PlainView(model), spec, 10, 0, stochastic=False)
    purified = make_attack(PurifiedView(model, Purification(steps=1)), spec, 10, 0, stochastic=True)
    assert isinstance(plain, torchattacks.AutoAttack)
    assert (plain.version, plain.norm, plain.eps) == ("standard", "L2", 0.5)
    assert purified.version == "rand"


@pytest.mark.slow
def test_autoattack_equals_direct_torchattacks_call(tiny_classifier_path: Path, tmp_path: Path) -> None:
    settings = ["n=24", "linf_eps=0.1", "norms=linf", "steps=3", "autoattack=true", "default_baselines=false"]
    run = run_suite("robustness", tiny_classifier_path, tmp_path / "run", settings, device="cpu", seed=SEED,
                    progress=False)
    model = load_checkpoint(tiny_classifier_path).model.eval()
    x, y = _test_subset(24)
    torch.manual_seed(attack_seed(SEED, 0, 0))
    adv = torchattacks.AutoAttack(model.logits_module(), norm="Linf", eps=0.1, n_classes=10, seed=SEED)(x, y)
    expected = (model.logits(adv).argmax(1) == y).float().mean().item()
    assert _records(run)[("clf", "none", "autoattack", "linf", "0.1")].value == pytest.approx(expected)


@pytest.mark.slow
def test_trained_quickstart_ebm_adaptive_at_most_transfer(tmp_path: Path) -> None:
    """The properly trained conditional digits EBM of the quickstart (trained on first use: minutes), with the
    suite's default purification: every adaptive number is at most the transfer number within its spread."""
    from ebmbench.quickstart import QUICKSTART_EBM
    from ebmbench.runner import default_cache_dir
    from ebmbench.zoo import cached_model

    ckpt = cached_model("ebm", dict(QUICKSTART_EBM), default_cache_dir(), torch.device("cpu"), progress=False)
    settings = ["n=60", "linf_eps=0,0.1", "l2_eps=0,0.5", "steps=5", "eot=2", "draws=3", "purify_steps=5",
                "default_baselines=false"]
    run = run_suite("robustness", ckpt, tmp_path / "run", settings, device="cpu", progress=False, model_name="ebm")
    got = _records(run)
    for norm, eps in (("linf", "0.1"), ("l2", "0.5")):
        transfer = got[("ebm", "langevin", "transfer-from-classifier", norm, eps)]
        for adaptive in ("bpda+eot", "full"):
            assert got[("ebm", "langevin", adaptive, norm, eps)].value <= transfer.ci_high


def test_cpu_budget_presets_defaults_and_explicit_options_win() -> None:
    cpu = build_options(RobustnessOptions, ["budget=cpu"])
    assert (cpu.n, cpu.steps, cpu.eot, cpu.draws, cpu.purify_steps, cpu.adaptive, cpu.square_queries) == (
        200, 5, 2, 2, 5, ("bpda+eot",), 100)
    assert cpu.control and cpu.transfer_from_baselines and cpu.norms == ("linf", "l2")  # every row type but unrolled
    assert build_options(RobustnessOptions, ["budget=cpu", "n=40", "steps=7"]).n == 40
    assert build_options(RobustnessOptions, ["budget=cpu", "steps=7"]).steps == 7
    assert build_options(RobustnessOptions, []) == RobustnessOptions()
    with pytest.raises(EbmbenchError, match=r"budget=gpu is not a preset.*full, cpu"):
        build_options(RobustnessOptions, ["budget=gpu"])
