"""The restoration suite's metrics against a hand formula (PSNR) and scikit-image (SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebmbench.suites.restoration.metrics import psnr, ssim


def test_psnr_hand_formula() -> None:
    ref = torch.zeros(2, 1, 4, 4)
    x = ref.clone()
    x[0, 0, 0, 0] = 0.5  # MSE = 0.25 / 16
    x[1] += 0.1  # MSE = 0.01
    got = psnr(x, ref)
    assert got[0].item() == pytest.approx(10 * math.log10(16 / 0.25))
    assert got[1].item() == pytest.approx(20.0, abs=1e-5)
    assert psnr(ref, ref)[0].item() == pytest.approx(100.0)  # floored MSE
    assert psnr(x * 255, ref * 255, data_range=255.0)[1].item() == pytest.approx(20.0, abs=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 12), (1, 7, 7)])
def test_ssim_matches_scikit_image(shape: tuple[int, int, int]) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand((5, *shape), generator=gen)
    x = (ref + 0.2 * torch.randn(ref.shape, generator=gen)).clamp(0, 1)
    x[0] = ref[0]
    got = ssim(x, ref)
    for i in range(len(x)):
        a, b = x[i].numpy().astype(np.float64), ref[i].numpy().astype(np.float64)
        theirs = metrics.structural_similarity(a, b, data_range=1.0, channel_axis=0)
        assert got[i].item() == pytest.approx(theirs, abs=1e-9)
    assert got[0].item() == pytest.approx(1.0)


def test_ssim_on_real_digits_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    from ebmbench.data.base import DataContext, load_dataset

    clean, _ = load_dataset("digits", "test", DataContext()).tensors(6, seed=0)
    noisy = (clean + 0.3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    got = ssim(noisy, clean)
    theirs = [metrics.structural_similarity(noisy[i, 0].double().numpy(), clean[i, 0].double().numpy(),
                                            data_range=1.0) for i in range(6)]
    np.testing.assert_allclose(got.numpy(), theirs, atol=1e-9)


def test_ssim_refuses_images_smaller_than_window() -> None:
    with pytest.raises(ValueError, match="window"):
        ssim(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 5, 5))


# ---- corruptions and the simple baselines -------------------------------------------------------------------
def test_corruptions_have_their_documented_levels() -> None:
    from ebmbench.suites.restoration.corruptions import corrupt, parse_corruption

    clean = torch.full((400, 1, 8, 8), 0.5)
    noisy, known = corrupt(parse_corruption("gaussian:0.1"), clean, (0.0, 1.0), seed=0)
    assert known.all()
    assert (noisy - clean).std().item() == pytest.approx(0.1, rel=0.03)
    sp, _ = corrupt(parse_corruption("salt-pepper:0.3"), clean, (0.0, 1.0), seed=0)
    hit = sp != 0.5
    assert hit.float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert set(sp[hit].unique().tolist()) == {0.0, 1.0}
    box, known = corrupt(parse_corruption("box:0.5"), clean, (0.0, 1.0), seed=0)
    assert (~known[0, 0]).nonzero().tolist() == [[r, c] for r in range(2, 6) for c in range(2, 6)]
    assert torch.equal(box[known.expand_as(box)], clean[known.expand_as(clean)])
    _, known = corrupt(parse_corruption("half:bottom"), clean, (0.0, 1.0), seed=0)
    assert (~known[0, 0, 4:]).all() and known[0, 0, :4].all()
    _, known = corrupt(parse_corruption("half:left"), clean, (0.0, 1.0), seed=0)
    assert (~known[0, 0, :, :4]).all() and known[0, 0, :, 4:].all()
    pixels, known = corrupt(parse_corruption("pixels:0.5"), clean, (0.0, 1.0), seed=0)
    assert (~known).float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert pixels[~known.expand_as(pixels)].std().item() == pytest.approx((1 / 12) ** 0.5, rel=0.05)  # uniform fill


@pytest.mark.parametrize("text", ["blur:1", "gaussian:x", "salt-pepper:1.5", "half:middle", "box:0"])
def test_bad_corruptions_are_one_line_errors(text: str) -> None:
    from ebmbench.errors import EbmbenchError
    from ebmbench.suites.restoration.corruptions import parse_corruption

    with pytest.raises(EbmbenchError):
        parse_corruption(text)


def test_median_filter_by_hand() -> None:
    from ebmbench.suites.restoration.baselines import median_filter

    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0  # an isolated hot pixel disappears
    assert median_filter(x).abs().max().item() == 0.0
    img = torch.arange(25, dtype=torch.float64).reshape(1, 1, 5, 5) / 25
    got = median_filter(img)
    assert got[0, 0, 2, 2].item() == pytest.approx(float(np.median(img[0, 0, 1:4, 1:4].numpy())))


# ---- the suite ----------------------------------------------------------------------------------------------
def test_suite_rows_equal_direct_computations(dummy_path, tiny_classifier_path, tmp_path) -> None:
    from ebmbench.checkpoint import load_checkpoint
    from ebmbench.data.base import load_dataset
    from ebmbench.runner import run_suite
    from ebmbench.seeds import keyed
    from ebmbench.suites.restoration.corruptions import corrupt, parse_corruption

    run = run_suite("restoration", dummy_path, tmp_path / "run",
                    ["n=30", "corruptions=gaussian:0.3,box:0.5", "steps=0,3", "sampler.step_size=0.001",
                     "sampler.noise=0.01", "sampler.grad_clip=none"],
                    baselines={"clf": tiny_classifier_path}, progress=False)
    rows = {(r.model, r.eval_set, r.metric, r.extra.get("steps")): r for r in run.records()}
    clean, labels = load_dataset("digits", "test").tensors(30, seed=0)
    noisy, _ = corrupt(parse_corruption("gaussian:0.3"), clean, (0.0, 1.0),
                       seed=keyed(0, "restoration", "gaussian:0.3", "corrupt"))
    direct = psnr(noisy, clean).numpy()
    row = rows[("corrupted-input", "gaussian:0.3", "psnr", None)]
    assert row.value == pytest.approx(direct.mean(), rel=1e-6)
    assert row.ci_low < row.value < row.ci_high and row.n == 30
    assert rows[("dummy", "gaussian:0.3", "psnr", 0)].value == pytest.approx(row.value)  # 0 steps: the input
    assert rows[("dummy", "gaussian:0.3", "ssim", 0)].value == pytest.approx(
        rows[("corrupted-input", "gaussian:0.3", "ssim", None)].value)
    assert ("median-filter", "gaussian:0.3", "psnr", None) in rows
    assert ("mean-image", "box:0.5", "ssim", None) in rows
    clf = load_checkpoint(tiny_classifier_path).model
    with torch.no_grad():
        expected = (clf.logits(noisy).argmax(1) == labels).float().mean().item()
    acc = rows[("corrupted-input", "gaussian:0.3", "accuracy", None)]
    assert acc.value == pytest.approx(expected) and acc.extra["classifier"] == "clf"
    assert 0 <= acc.ci_low <= acc.value <= acc.ci_high <= 1
    assert rows[("clean-input", "clean", "accuracy", None)].n == 30
    # every accuracy's per-image outcomes are on disk, equal to the direct computation, for compare's tests
    per_example = np.load(run.path / acc.extra["per_example_file"])[acc.extra["per_example_key"]]
    np.testing.assert_array_equal(per_example.astype(bool), (clf.logits(noisy).argmax(1) == labels).numpy())
    for r in (r for r in run.records() if r.metric == "accuracy"):
        stored = np.load(run.path / r.extra["per_example_file"])[r.extra["per_example_key"]]
        assert stored.shape == (30,) and stored.mean() == pytest.approx(r.value) and r.extra["images"]
    # inpainting keeps the known pixels exactly
    shown = np.load(run.path / "images" / "box_0.5.npz")
    known = np.ones((8, 8), dtype=bool)
    known[2:6, 2:6] = False
    np.testing.assert_array_equal(shown["restored"][:, 0][:, known], shown["clean"][:, 0][:, known])
    assert not np.array_equal(shown["restored"][:, 0][:, ~known], shown["corrupted"][:, 0][:, ~known])
    for name in ("restoration_grid.png", "metric_vs_steps.png"):
        assert (run.path / name).exists()


def test_conditional_label_modes(tiny_cond_ebm_path, tmp_path) -> None:
    from ebmbench.runner import run_suite

    for mode in ("true", "predicted", "marginal"):
        run = run_suite("restoration", tiny_cond_ebm_path, tmp_path / mode,
                        ["n=10", "corruptions=pixels:0.5", "steps=0,2", f"label={mode}", "default_baselines=false"],
                        progress=False)
        assert {r.extra["label"] for r in run.records() if r.eval_set not in ("clean", "model-health")} == {mode}


def test_true_labels_need_a_conditional_model(dummy_path, tmp_path) -> None:
    from ebmbench.errors import EbmbenchError
    from ebmbench.runner import run_suite

    with pytest.raises(EbmbenchError, match="conditional"):
        run_suite("restoration", dummy_path, tmp_path / "run", ["label=true"], progress=False)


def test_wilson_interval_matches_scipy() -> None:
    from scipy.stats import binomtest

    from ebmbench.suites.restoration.intervals import wilson

    for k, n in ((0, 20), (1, 80), (37, 50), (50, 50)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_default_classifier_scores_the_images_and_is_named_in_records(tiny_cond_ebm_path, tiny_classifier_path,
                                                                      tmp_path, monkeypatch) -> None:
    """Without --baseline the suite asks the one default-baseline provider for its recipe (here answered with the
    tiny classifier) and every accuracy record names what produced the classifier."""
    from ebmbench.baselines import DefaultBaseline
    from ebmbench.checkpoint import load_checkpoint
    from ebmbench.runner import run_suite
    from ebmbench.suites.restoration import suite as restoration

    asked = []

    def provider(ctx, recipes, taken=()):
        asked.append([r.name for r in recipes])
        ckpt = load_checkpoint(tiny_classifier_path)
        return {"classifier": DefaultBaseline("classifier", ckpt.model, tiny_classifier_path, ckpt.sha256,
                                              recipes[0], {"dataset": "digits"})}

    monkeypatch.setattr(restoration, "default_baselines", provider)
    run = run_suite("restoration", tiny_cond_ebm_path, tmp_path / "run",
                    ["n=10", "corruptions=gaussian:0.3", "steps=0,2"], progress=False)
    assert asked == [["classifier"]]
    accuracy = [r for r in run.records() if r.metric == "accuracy"]
    assert accuracy and all(r.extra["classifier"] == "classifier" for r in accuracy)
    assert all(r.extra["default_baseline"]["checkpoint_sha256"] for r in accuracy)


def test_compare_tests_restoration_accuracies_on_their_per_example_outcomes(dummy_path, tiny_classifier_path,
                                                                             tmp_path) -> None:
    from ebmbench.reports.compare import compare_runs
    from ebmbench.reports.load import load_runs
    from ebmbench.reports.tolerances import Tolerances
    from ebmbench.runner import run_suite

    opts = ["n=30", "corruptions=gaussian:0.3", "steps=0,2", "sampler.step_size=0.001", "sampler.noise=0.01"]
    runs = [run_suite("restoration", dummy_path, tmp_path / f"run{seed}", opts, baselines={"clf": tiny_classifier_path},
                      seed=seed, progress=False).path for seed in (0, 1)]
    verdict = compare_runs(load_runs([runs[0]]), load_runs([runs[1]]), Tolerances())
    accuracies = [c for c in verdict.comparisons if c.identity["metric"] == "accuracy"]
    assert accuracies and all(c.test is not None for c in accuracies), [c.reason for c in accuracies]
    assert {c.test.method.split(" ")[0] for c in accuracies} == {"Welch"}  # different seeds: different images
