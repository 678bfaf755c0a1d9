"""Suite ``ood``: metrics against scikit-learn on the saved per-sample scores, bootstrap intervals, scores
against direct model calls, identical preprocessing, baseline compatibility, default sets, near-OOD class
splits, resuming, and the paper-layout table."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from ebmbench.checkpoint import load_checkpoint, read_header, save_checkpoint
from ebmbench.data import subsets
from ebmbench.data.base import DataContext, load_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import ModelInfo
from ebmbench.models.dummy import QuadraticEnergy
from ebmbench.options import build_options
from ebmbench.records import Record
from ebmbench.runner import run_suite
from ebmbench.suites.ood import data as ood_data
from ebmbench.suites.ood import metrics as ood_metrics
from ebmbench.suites.ood import scores as ood_scores
from ebmbench.suites.ood import suite as ood
from ebmbench.training.common import TrainRequest, trainer

FAST = ("bootstrap=100", "n=120", "default_baselines=", "histograms=false")


def sklearn_metrics(scores_in: np.ndarray, scores_out: np.ndarray) -> dict[str, float]:
    """The reference: in-distribution positive, full ROC curve."""
    y = np.r_[np.ones(len(scores_in)), np.zeros(len(scores_out))]
    s = np.r_[scores_in, scores_out]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return {"auroc": roc_auc_score(y, s), "aupr_in": average_precision_score(y, s),
            "aupr_out": average_precision_score(1 - y, -s), "fpr95": fpr[np.argmax(tpr >= 0.95)]}


def _train(family: str, out: Path, **settings: str) -> Path:
    module = trainer(family)
    config = build_options(module.Config, settings)
    return module.train(config, TrainRequest(out=out, device=torch.device("cpu"), progress=False))


@pytest.fixture(scope="module")
def glow_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train("glow", tmp_path_factory.mktemp("ood") / "glow.safetensors", hidden="8", steps="2",
                  iterations="30", warmup="5")


@pytest.fixture(scope="module")
def pixelcnn_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train("pixelcnn", tmp_path_factory.mktemp("ood") / "pixelcnn.safetensors", filters="8",
                  iterations="30", warmup="5")


def _gaussian(path: Path, dataset: str = "digits", shape: tuple[int, int, int] = (1, 8, 8),
              mean: torch.Tensor | None = None) -> Path:
    """The dummy Gaussian energy, centred on ``mean`` (per pixel): a model whose scores are known in closed form."""
    model = QuadraticEnergy(ModelInfo("dummy", dataset, shape), {"std": 0.25})
    if mean is not None:
        model.mean.data.copy_(mean)
    return save_checkpoint(path, model)


@pytest.fixture(scope="module")
def digits_gaussian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Gaussian fitted to the digits' per-pixel mean: in-distribution data sits far closer than noise."""
    x = load_dataset("digits", "train").tensors()[0]
    return _gaussian(tmp_path_factory.mktemp("ood") / "gauss.safetensors", mean=x.mean(0))


def _records(run) -> list:
    return [r for r in run.records() if r.suite == "ood"]


# ---- metrics ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_sklearn(ties: bool) -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        n_in, n_out = rng.integers(1, 50, size=2)
        a = rng.integers(0, 5, n_in).astype(float) if ties else rng.normal(0.8, 1, n_in)
        b = rng.integers(0, 5, n_out).astype(float) if ties else rng.normal(0, 1, n_out)
        ours, ref = ood_metrics.detection_metrics(a, b), sklearn_metrics(a, b)
        for key in ood_metrics.METRICS:
            assert ours[key] == pytest.approx(ref[key], abs=1e-12), key


def test_each_bootstrap_replicate_equals_sklearn_on_its_resample() -> None:
    """A replicate is computed from multiplicities over one sorted order; it must equal the metric of the
    explicitly resampled scores."""
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 6, 40).astype(float), rng.integers(0, 6, 30).astype(float)
    ranking = ood_metrics._Ranking(a, b)
    for _ in range(20):
        ia, ib = rng.integers(0, len(a), len(a)), rng.integers(0, len(b), len(b))
        counts = np.r_[np.bincount(ia, minlength=len(a)), np.bincount(ib, minlength=len(b))][None].astype(float)
        ours, ref = ranking.metrics(counts), sklearn_metrics(a[ia], b[ib])
        for key in ood_metrics.METRICS:
            assert ours[key][0] == pytest.approx(ref[key], abs=1e-12), key


def test_intervals_cover_the_estimate_are_seeded_and_shrink_with_more_data() -> None:
    def pair(n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(2)
        return rng.normal(1, 1, n), rng.normal(0, 1, n)

    small = ood_metrics.evaluate(*pair(50), 300, seed=7)
    again = ood_metrics.evaluate(*pair(50), 300, seed=7)
    other_seed = ood_metrics.evaluate(*pair(50), 300, seed=8)
    large = ood_metrics.evaluate(*pair(2000), 300, seed=7)
    for key in ood_metrics.METRICS:
        low, high = small[key].ci
        assert low <= small[key].value <= high
        assert small[key].ci == again[key].ci
        assert large[key].ci[1] - large[key].ci[0] < high - low
    assert small["auroc"].ci != other_seed["auroc"].ci


def test_intervals_cover_the_population_value_about_95_percent_of_the_time() -> None:
    """Coverage against known truth: in-distribution N(1, 1) against OOD N(0, 1) has AUROC Phi(1/sqrt(2)) and
    FPR@95TPR 1 - Phi(1 - z_0.95) (scipy); the population AUPRs, for the design's class balance, come from
    sklearn on 400k draws per side. Small samples make average precision biased, so its coverage may sit a
    little under the nominal 95%."""
    rng = np.random.default_rng(0)
    n_in, n_out, sims = 60, 150, 400
    big_in, big_out = rng.normal(1, 1, 400_000), rng.normal(0, 1, 400_000)
    labels, pooled = np.r_[np.ones(len(big_in)), np.zeros(len(big_out))], np.r_[big_in, big_out]
    truth = {"auroc": norm.cdf(1 / np.sqrt(2)), "fpr95": 1 - norm.cdf(1 - norm.ppf(0.95)),
             "aupr_in": average_precision_score(labels, pooled, sample_weight=np.where(labels == 1, 1, n_out / n_in)),
             "aupr_out": average_precision_score(1 - labels, -pooled,
                                                 sample_weight=np.where(labels == 1, n_in / n_out, 1))}
    hits = dict.fromkeys(truth, 0)
    for i in range(sims):
        estimates = ood_metrics.evaluate(rng.normal(1, 1, n_in), rng.normal(0, 1, n_out), 200, seed=i)
        for key, value in truth.items():
            hits[key] += estimates[key].ci[0] <= value <= estimates[key].ci[1]
    coverage = {key: count / sims for key, count in hits.items()}
    assert 0.92 <= coverage["auroc"] <= 0.98, coverage
    assert all(0.87 <= c <= 0.99 for c in coverage.values()), coverage


def test_average_interval_covers_the_mean_population_auroc_about_95_percent_of_the_time() -> None:
    """The quickstart's bootstrap (200 median-shifted percentile resamples) for the mean AUROC over three sets
    of known AUROC Phi((1 - m) / sqrt(2)) for OOD N(m, 1) against in-distribution N(1, 1)."""
    rng = np.random.default_rng(1)
    shifts, sims = (0.0, 0.5, -1.0), 300
    truth = float(np.mean([norm.cdf((1 - m) / np.sqrt(2)) for m in shifts]))
    hits = 0
    for i in range(sims):
        scores_in = rng.normal(1, 1, 80)  # one in-distribution set shared by every OOD set, as in the suite
        sets = [ood_metrics.evaluate(scores_in, rng.normal(m, 1, 100), 200, seed=i, seed_out=10 * i + j)["auroc"]
                for j, m in enumerate(shifts)]
        low, high = ood_metrics.average(sets).ci
        hits += low <= truth <= high
    assert 0.90 <= hits / sims <= 0.99, hits / sims


def test_average_is_the_mean_over_sets_with_an_interval_around_it() -> None:
    rng = np.random.default_rng(3)
    sets = [ood_metrics.evaluate(rng.normal(1, 1, 60), rng.normal(m, 1, 60), 200, seed=i)["auroc"]
            for i, m in enumerate((0.0, 0.5, -1.0))]
    avg = ood_metrics.average(sets)
    assert avg.value == pytest.approx(np.mean([s.value for s in sets]))
    assert avg.ci[0] <= avg.value <= avg.ci[1]


# ---- the suite end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory, digits_gaussian: Path, glow_path: Path, pixelcnn_path: Path,
             tiny_classifier_path: Path):
    baselines = {"Glow": glow_path, "PixelCNN++": pixelcnn_path, "classifier": tiny_classifier_path}
    settings = ("sets=uniform,constant,interp:digits", "scores=all", "bootstrap=100", "n=150", "histograms=true")
    return run_suite("ood", digits_gaussian, tmp_path_factory.mktemp("ood") / "run", settings, baselines,
                     device="cpu", progress=False, model_name="gauss")


def test_saved_scores_reproduce_every_metric_with_sklearn(fast_run) -> None:
    records = _records(fast_run)
    checked = 0
    for set_name in ("uniform", "constant", "interp:digits"):
        frame = pd.read_csv(fast_run.path / "scores" / f"{ood.ood_report.safe_name(set_name)}.csv")
        y = frame["in_distribution"].to_numpy()
        assert (y == 1).sum() == 360 and (y == 0).sum() == 150
        for r in (r for r in records if r.eval_set == set_name):
            s = frame[f"{r.model}/{r.extra['score']}"].to_numpy()
            assert r.value == pytest.approx(sklearn_metrics(s[y == 1], s[y == 0])[r.metric], abs=1e-9)
            assert r.ci_low <= r.value <= r.ci_high
            assert r.n == 510 and r.extra["positive"] == "in-distribution" and r.extra["bootstrap"] == 100
            checked += 1
    columns = {("gauss", "energy"), ("gauss", "grad_norm"), ("gauss", "log_prob"), ("Glow", "log_prob"),
               ("PixelCNN++", "log_prob"), ("classifier", "msp"), ("classifier", "logsumexp_logits")}
    assert checked == 3 * len(ood_metrics.METRICS) * len(columns)
    assert {(r.model, r.extra["score"]) for r in records if "score" in r.extra} == columns


def test_uniform_noise_is_detected_by_energy_and_likelihood_models(fast_run) -> None:
    auroc = {(r.model, r.extra["score"]): r.value for r in _records(fast_run)
             if r.eval_set == "uniform" and r.metric == "auroc"}
    for key in [("gauss", "energy"), ("gauss", "log_prob"), ("Glow", "log_prob"), ("PixelCNN++", "log_prob")]:
        assert auroc[key] >= 0.99, key


def test_average_rows_and_table_with_bits_per_dim(fast_run, glow_path: Path, pixelcnn_path: Path) -> None:
    records = _records(fast_run)
    for (model, score) in {(r.model, r.extra["score"]) for r in records if "score" in r.extra}:
        per_set = [r.value for r in records if r.model == model and r.extra.get("score") == score
                   and r.metric == "auroc" and r.eval_set != "average"]
        (avg,) = [r for r in records if r.model == model and r.extra.get("score") == score
                  and r.metric == "auroc" and r.eval_set == "average"]
        assert avg.value == pytest.approx(np.mean(per_set)) and len(per_set) == 3
    bpd = {r.model: r.value for r in records if r.metric == "bits_per_dim"}
    assert set(bpd) == {"gauss", "Glow", "PixelCNN++"}  # every model with log p(x)
    for name, path in (("Glow", glow_path), ("PixelCNN++", pixelcnn_path)):
        assert bpd[name] == pytest.approx(read_header(path)["training"]["metrics"]["test_bits_per_dim"], rel=1e-5)
    table = (fast_run.path / "ood_table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| OOD set"))
    for column in ("gauss: -E(x)", "Glow", "PixelCNN++", "classifier: max softmax"):
        assert f"| {column} |" in header
    assert "| test bits/dim |" in table and f"{bpd['Glow']:.3f}" in table
    assert all(f"| {s} |" in table for s in ("uniform", "constant", "interp:digits", "average"))
    assert (fast_run.path / "hist" / "uniform.png").stat().st_size > 0
    manifest = json.loads((fast_run.path / "manifest.json").read_text())
    assert manifest["status"] == "complete"


def test_scores_equal_direct_model_calls(tmp_path: Path, tiny_cond_ebm_path: Path) -> None:
    run = run_suite("ood", tiny_cond_ebm_path, tmp_path / "run", ("sets=uniform", "scores=all", *FAST),
                    device="cpu", progress=False, model_name="cebm")
    frame = pd.read_csv(run.path / "scores" / "uniform.csv")
    model = load_checkpoint(tiny_cond_ebm_path).model
    x = load_dataset("digits", "test").tensors()[0]
    energies = model.energy_all_classes(x).detach()
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad((-torch.logsumexp(-model.energy_all_classes(xg), 1)).sum(), xg)
    expected = {"min_energy": -energies.min(1).values, "logsumexp_energy": torch.logsumexp(-energies, 1),
                "grad_norm": -grad.flatten(1).norm(dim=1), "msp": torch.softmax(-energies, 1).max(1).values}
    assert {c.split("/")[1] for c in frame.columns if "/" in c} == set(expected)  # no duplicate logsumexp
    inside = frame[frame.in_distribution == 1]
    for name, values in expected.items():
        assert np.allclose(inside[f"cebm/{name}"].to_numpy(), values.numpy(), rtol=1e-5, atol=1e-6), name


def test_energy_and_gradient_norm_share_one_forward_pass(tiny_ebm_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_checkpoint(tiny_ebm_path).model
    x = load_dataset("digits", "test").tensors(64, seed=0)[0]
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model.energy(xg).sum(), xg)
    expected = {"energy": -model.energy(x).detach(), "grad_norm": -grad.flatten(1).norm(dim=1)}
    calls = []
    real_energy = model.energy
    monkeypatch.setattr(model, "energy", lambda batch: calls.append(len(batch)) or real_energy(batch))
    scores = ood_scores.score_batch(model, x, ["energy", "grad_norm"])
    assert list(scores) == ["energy", "grad_norm"] and calls == [64]
    for name, values in expected.items():
        assert torch.allclose(scores[name], values, rtol=1e-5, atol=1e-6), name


def test_table_notes_scores_that_point_the_wrong_way() -> None:
    def auroc(value: float, high: float, eval_set: str = "uniform") -> Record:
        return Record("ood", "1", "ebm", "digits", eval_set, "auroc", value, value - 0.01, high,
                      extra={"score": "grad_norm", "score_label": "-‖∇ₓE(x)‖"})

    assert ood._inverted([auroc(0.9, 0.95), auroc(0.45, 0.55), auroc(0.1, 0.2, "average")]) == []
    (note,) = ood._inverted([auroc(0.02, 0.05), auroc(0.9, 0.95, "constant")])
    assert "ebm -‖∇ₓE(x)‖ on uniform" in note and "constant" not in note


def test_paper_scores_are_chosen_by_capability(tiny_ebm_path: Path, tiny_cond_ebm_path: Path,
                                                tiny_classifier_path: Path, glow_path: Path) -> None:
    picks = {p.name: ood_scores.scores_for(load_checkpoint(p).model, ("paper",))
             for p in (tiny_ebm_path, tiny_cond_ebm_path, tiny_classifier_path, glow_path)}
    assert list(picks.values()) == [["energy"], ["min_energy"], ["msp"], ["log_prob"]]


def test_identical_preprocessing_makes_the_test_set_indistinguishable_from_itself(
        tmp_path: Path, digits_gaussian: Path, glow_path: Path, pixelcnn_path: Path) -> None:
    """The in-distribution test split named as the OOD set gets the same scores image for image: AUROC 0.5."""
    run = run_suite("ood", digits_gaussian, tmp_path / "run", ("sets=digits", "scores=all", "n=1000",
                                                               *FAST[:1], *FAST[2:]),
                    {"Glow": glow_path, "PixelCNN++": pixelcnn_path}, device="cpu", progress=False)
    aurocs = [r.value for r in _records(run) if r.metric == "auroc" and r.eval_set == "digits"]
    assert len(aurocs) == 5 and all(v == 0.5 for v in aurocs)


# ---- baselines, sets and options -------------------------------------------------------------------------


@pytest.mark.parametrize(("dataset", "shape"), [("mnist", (1, 28, 28)), ("classes:0-4:digits", (1, 8, 8))])
def test_a_baseline_trained_on_other_data_is_refused(tmp_path: Path, digits_gaussian: Path, dataset: str,
                                                      shape: tuple[int, int, int]) -> None:
    other = _gaussian(tmp_path / "other.safetensors", dataset, shape)
    with pytest.raises(EbmbenchError, match=r"baseline 'other' was trained on .* but the model on digits"):
        run_suite("ood", digits_gaussian, tmp_path / "run", FAST, {"other": other}, device="cpu", progress=False)
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_default_baselines_are_trained_for_the_digits_only_without_named_baselines(
        tmp_path: Path, digits_gaussian: Path, glow_path: Path, pixelcnn_path: Path,
        tiny_classifier_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = {"glow": glow_path, "pixelcnn": pixelcnn_path, "classifier": tiny_classifier_path}
    calls = []

    def fake_cached_model(family, settings, cache_dir, device, data=None, progress=True):
        calls.append((family, settings))
        return trained[family]

    monkeypatch.setattr("ebmbench.zoo.cached_model", fake_cached_model)
    settings = ("sets=uniform", "bootstrap=50", "n=100", "histograms=false")
    run = run_suite("ood", digits_gaussian, tmp_path / "run", settings, device="cpu", progress=False)
    assert calls == [("glow", {"dataset": "digits"}), ("pixelcnn", {"dataset": "digits"}),
                     ("classifier", {"dataset": "digits", "noise_aug": 1.0, "iterations": 1500})]
    records = _records(run)
    assert {r.model for r in records} >= {"Glow", "PixelCNN++", "classifier"}
    sha = load_checkpoint(tiny_classifier_path).sha256
    provenance = [r.extra["default_baseline"] for r in records if r.model == "classifier"]
    assert provenance and all(p == {"checkpoint_sha256": sha, "train_settings": calls[2][1]} for p in provenance)
    table = (run.path / "ood_table.md").read_text()
    assert "noise_aug=1.0" in table and "the noise sets are easier" in table
    calls.clear()
    run_suite("ood", digits_gaussian, tmp_path / "run2", settings, {"Glow": glow_path}, device="cpu",
              progress=False)
    assert calls == []


def _colour_folder(root: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_missing_default_sets_are_skipped_with_a_warning_naming_the_path(tmp_path: Path) -> None:
    folder = _colour_folder(tmp_path / "imgs")
    model = _gaussian(tmp_path / "m.safetensors", f"folder:{folder}", (3, 8, 8))
    root = tmp_path / "data"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_suite("ood", model, tmp_path / "run", FAST, device="cpu", progress=False,
                        data=DataContext(root=root))
    messages = " ".join(str(w.message) for w in caught)
    for name in ("svhn", "dtd", "cifar100", "celeba"):
        assert f"skipping default OOD set {name!r}" in messages
    assert str(root / "svhn") in messages
    evaluated = {r.eval_set for r in _records(run) if "score" in r.extra}
    assert evaluated == {"constant", "uniform", f"interp:folder:{folder}", "average"}
    assert "skipped svhn" in (run.path / "ood_table.md").read_text()
    with pytest.raises(EbmbenchError, match="svhn not found"):
        run_suite("ood", model, tmp_path / "run2", ("sets=svhn", *FAST), device="cpu", progress=False,
                  data=DataContext(root=root))


def test_default_sets_for_grey_and_colour_models() -> None:
    grey = ood_data.default_sets("digits", (1, 8, 8), 10)
    assert grey == ["uniform", "constant", "gaussian", "interp:digits", "flip:digits", "invert:digits",
                    "photo-patches"]
    assert ood_data.default_sets("cifar10", (3, 32, 32), 10) == ["svhn", "dtd", "constant", "uniform",
                                                                 "interp:cifar10", "cifar100", "celeba"]
    assert "svhn" not in ood_data.default_sets("svhn", (3, 32, 32), 10)
    assert ood_data.default_sets("classes:0-4:digits", (1, 8, 8), 10)[-1] == "classes:5-9:digits"


def test_class_subsets_and_the_near_ood_split(tmp_path: Path) -> None:
    kept = load_dataset("classes:0-4:digits", "test")
    held = load_dataset("classes:5-9:digits", "test")
    assert set(kept.tensors()[1].tolist()) == {0, 1, 2, 3, 4} and set(held.tensors()[1].tolist()) == {5, 6, 7, 8, 9}
    assert len(kept) + len(held) == 360
    assert subsets.parse_classes("0-2,7") == [0, 1, 2, 7] and subsets.format_classes([0, 1, 2, 7]) == "0-2,7"
    with pytest.raises(EbmbenchError, match="classes 0-9"):
        load_dataset("classes:3,12:digits", "test")
    subset_mean = kept.tensors()[0].mean(0)
    model = _gaussian(tmp_path / "m.safetensors", "classes:0-4:digits", mean=subset_mean)
    run = run_suite("ood", model, tmp_path / "run", ("sets=classes:5-9:digits", *FAST), device="cpu",
                    progress=False)
    records = [r for r in _records(run) if r.eval_set == "classes:5-9:digits"]
    assert records and all(r.extra["near_ood"] for r in records)
    assert all(r.extra["n_in"] == len(kept) for r in records)


def test_option_errors_are_one_line_and_early(tmp_path: Path, digits_gaussian: Path,
                                              tiny_classifier_path: Path) -> None:
    def run(*settings: str, model: Path = digits_gaussian) -> None:
        run_suite("ood", model, tmp_path / "run", (*FAST, *settings), device="cpu", progress=False)

    with pytest.raises(EbmbenchError, match="did you mean 'msp'"):
        run("scores=mps")
    with pytest.raises(EbmbenchError, match="none of the scores log_prob applies"):
        run("scores=log_prob", model=tiny_classifier_path)
    with pytest.raises(EbmbenchError, match=r"did you mean .uniform."):
        run("sets=unifrom")
    assert not (tmp_path / "run").exists()


def test_a_second_run_resumes_without_rescoring(tmp_path: Path, digits_gaussian: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ("sets=uniform,constant", *FAST)
    first = run_suite("ood", digits_gaussian, tmp_path / "run", settings, device="cpu", progress=False)
    before = [r.to_json() for r in first.records()]

    def refuse(*args, **kwargs):
        raise AssertionError("a finished set was scored again")

    monkeypatch.setattr(ood_scores, "score_batch", refuse)
    second = run_suite("ood", digits_gaussian, tmp_path / "run", settings, device="cpu", progress=False)
    assert [r.to_json() for r in second.records()] == before


# ---- acceptance on the digits with real models (slow: trains the quickstart EBM and the default baselines) ----


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory):
    from ebmbench.quickstart import MODEL_NAME, QUICKSTART_EBM
    from ebmbench.zoo import cached_model

    cache = tmp_path_factory.getbasetemp() / "cache"  # module fixtures run before the per-test cache isolation
    ebm = cached_model("ebm", QUICKSTART_EBM, cache, torch.device("cpu"), progress=False)
    return run_suite("ood", ebm, tmp_path_factory.mktemp("ood") / "run", ood.OODSuite.quickstart, device="cpu",
                     progress=False, model_name=MODEL_NAME, cache_dir=cache)


def _uniform_auroc(run) -> dict[tuple[str, str], float]:
    return {(r.model, r.extra["score"]): r.value for r in _records(run)
            if r.eval_set == "uniform" and r.metric == "auroc"}


@pytest.mark.slow
def test_quickstart_table_has_every_model_and_bits_per_dim(quickstart_run) -> None:
    table = (quickstart_run.path / "ood_table.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| OOD set"))
    for column in ("ebm-digits: -min_y E(x,y)", "Glow", "PixelCNN++", "classifier: max softmax"):
        assert f"| {column} |" in header
    bpd = {r.model: r.value for r in _records(quickstart_run) if r.metric == "bits_per_dim"}
    assert set(bpd) == {"Glow", "PixelCNN++"} and all(0 < v < np.log2(17) for v in bpd.values())


@pytest.mark.slow
def test_quickstart_uniform_noise_auroc_from_every_model(quickstart_run) -> None:
    auroc = _uniform_auroc(quickstart_run)
    for key in [("ebm-digits", "min_energy"), ("ebm-digits", "logsumexp_energy"), ("Glow", "log_prob"),
                ("PixelCNN++", "log_prob"), ("classifier", "msp"), ("classifier", "logsumexp_logits")]:
        assert auroc[key] >= 0.99, (key, auroc[key])
