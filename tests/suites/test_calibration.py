"""The calibration suite's metrics against hand-computed cases and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss

from ebmbench.suites.calibration.metrics import bin_index, brier, calibration, ece, nll, reliability


def test_ece_hand_computed() -> None:
    """Four bins of width 0.25. Confidences 0.1 and 0.2 (bin 1: both wrong), 0.3 (bin 2: right), 0.8 and 0.9
    (bin 4: one right): ECE = 2/5 |0 - 0.15| + 1/5 |1 - 0.3| + 2/5 |0.5 - 0.85| = 0.06 + 0.14 + 0.14 = 0.34."""
    conf = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    correct = np.array([0, 0, 1, 1, 0])
    assert ece(conf, correct, bins=4) == pytest.approx(0.34)
    table = reliability(conf, correct, bins=4)
    np.testing.assert_array_equal(table.counts, [2, 1, 0, 2])
    assert table.mce == pytest.approx(0.7)


def test_bins_are_right_closed() -> None:
    np.testing.assert_array_equal(bin_index(np.array([0.0, 0.25, 0.2500001, 0.5, 1.0]), 4), [0, 0, 1, 1, 3])


def test_perfectly_calibrated_bins_give_zero_ece() -> None:
    conf = np.array([0.75] * 4 + [0.5] * 2)
    correct = np.array([1, 1, 1, 0, 1, 0])
    assert ece(conf, correct, bins=10) == pytest.approx(0.0)


def test_nll_and_brier_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3, size=(200, 10))
    labels = rng.integers(0, 10, size=200)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert nll(logits, labels) == pytest.approx(log_loss(labels, probs, labels=range(10)), rel=1e-9)
    theirs = brier_score_loss(labels, probs, labels=range(10), scale_by_half=False)
    assert brier(probs, labels) == pytest.approx(theirs, rel=1e-12)


def test_calibration_bundle_and_bootstrap_intervals() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=2, size=(300, 5))
    labels = np.where(rng.random(300) < 0.7, logits.argmax(axis=1), rng.integers(0, 5, size=300))
    out = calibration(logits, labels, bins=15, resamples=400, seed=0)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert out.values["accuracy"] == pytest.approx((probs.argmax(1) == labels).mean())
    assert out.values["ece"] == pytest.approx(ece(probs.max(1), probs.argmax(1) == labels, bins=15))
    assert out.values["nll"] == pytest.approx(log_loss(labels, probs, labels=range(5)))
    for key, (low, high) in out.intervals.items():
        assert low <= high, key
        if key != "mce":
            assert low - 1e-12 <= out.values[key] <= high + 1e-12, key
    # the vectorised ECE resamples equal the straightforward computation on the same resamples
    idx = np.random.default_rng(0).integers(0, 300, size=(400, 300))
    conf, correct = probs.max(1), (probs.argmax(1) == labels).astype(float)
    direct = [ece(conf[i], correct[i], bins=15) for i in idx]
    assert out.intervals["ece"] == pytest.approx((np.percentile(direct, 2.5), np.percentile(direct, 97.5)))
    again = calibration(logits, labels, bins=15, resamples=400, seed=0)
    assert again.intervals == out.intervals  # seeded


# ---- the suite ----------------------------------------------------------------------------------------------
def test_suite_measures_every_classifier_view(tiny_cond_ebm_path, tiny_classifier_path, tmp_path) -> None:
    from ebmbench.checkpoint import load_checkpoint
    from ebmbench.data.base import load_dataset
    from ebmbench.runner import run_suite

    run = run_suite("calibration", tiny_cond_ebm_path, tmp_path / "run",
                    ["n=60", "bins=10", "bootstrap=200", "purify_steps=2"],
                    baselines={"clf": tiny_classifier_path}, progress=False)
    records = [r for r in run.records() if r.eval_set != "model-health"]  # the runner's health records
    views = {(r.model, r.extra["view"]) for r in records}
    assert views == {("cebm", "plain"), ("cebm", "purified"), ("clf", "plain")}
    assert all(r.extra["bins"] == 10 and "right-closed" in r.extra["binning"] for r in records)
    # the classifier's plain numbers equal a direct computation on its logits
    x, y = load_dataset("digits", "test").tensors(60, seed=0)
    with torch.no_grad():
        logits = load_checkpoint(tiny_classifier_path).model.logits(x).double().numpy()
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    rows = {r.metric: r for r in records if r.model == "clf"}
    assert rows["nll"].value == pytest.approx(log_loss(y.numpy(), probs, labels=range(10)), rel=1e-6)
    assert rows["ece"].value == pytest.approx(ece(probs.max(1), probs.argmax(1) == y.numpy(), bins=10), abs=1e-9)
    assert rows["ece"].higher_is_better is False and rows["accuracy"].higher_is_better is True
    assert rows["ece"].ci_low <= rows["ece"].value <= rows["ece"].ci_high
    assert (run.path / "reliability.png").exists()
    # the purified view is the robustness suite's defense (same defaults, same seeded noise)
    from ebmbench.sampler import make_generator
    from ebmbench.seeds import keyed
    from ebmbench.suites.robustness.views import Purification, PurifiedView

    saved = np.load(run.path / "logits" / "cebm__purified.npz")
    model = load_checkpoint(tiny_cond_ebm_path).model
    gen = make_generator(keyed(0, "calibration", "purify"), "cpu")
    view = PurifiedView(model, Purification(steps=2, radius=0.1, per_class=True), generator=gen)
    np.testing.assert_allclose(saved["logits"], view(x).detach().double().numpy(), rtol=1e-5, atol=1e-6)
    rows = {r.metric: r for r in records if r.model == "cebm" and r.extra["view"] == "purified"}
    assert "K=2" in rows["ece"].extra["defense"]


def test_models_without_logits_are_refused(dummy_path, tmp_path) -> None:
    from ebmbench.errors import EbmbenchError
    from ebmbench.runner import run_suite

    with pytest.raises(EbmbenchError, match="logits"):
        run_suite("calibration", dummy_path, tmp_path / "run", progress=False)
