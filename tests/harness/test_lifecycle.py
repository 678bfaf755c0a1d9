"""The suite lifecycle (``plan = prepare(ctx)`` then ``run(ctx, plan)``) and the one default-baseline rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ebmbench.baselines import Recipe, check_compatible, default_baselines, wants_defaults
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import ModelInfo
from ebmbench.registries import SUITES
from ebmbench.runner import run_suite
from ebmbench.spec import Metric, SuiteSpec
from ebmbench.suite import Suite

CALLS: list[tuple[str, object]] = []


@dataclass(frozen=True)
class LifeOptions:
    fail: bool = False


class LifeSuite(Suite):
    spec = SuiteSpec("life", "1", "lifecycle probe", (Metric("x", True),), headline="x")
    Options = LifeOptions

    def prepare(self, ctx):
        CALLS.append(("prepare", ctx.run.exists()))
        if self.options.fail:
            raise EbmbenchError("refused in prepare")
        return {"token": 42}

    def run(self, ctx, plan):
        CALLS.append(("run", plan))
        ctx.commit("only", [self.record(ctx, "x", 1.0, "test")])


@pytest.fixture
def life(monkeypatch: pytest.MonkeyPatch) -> None:
    SUITES.names()
    monkeypatch.setitem(SUITES._entries, "life", LifeSuite)
    CALLS.clear()


def test_prepare_runs_before_the_run_directory_opens_and_hands_its_plan_to_run(life, dummy_path, tmp_path) -> None:
    run = run_suite("life", dummy_path, tmp_path / "run", device="cpu", progress=False)
    assert CALLS == [("prepare", False), ("run", {"token": 42})]
    assert [r.higher_is_better for r in run.records() if r.eval_set != "model-health"] == [True]
    assert {r.metric for r in run.records() if r.eval_set == "model-health"} >= {"health_flat_energy"}  # runner


def test_a_refusal_in_prepare_leaves_nothing_behind(life, dummy_path, tmp_path) -> None:
    with pytest.raises(EbmbenchError, match="refused in prepare"):
        run_suite("life", dummy_path, tmp_path / "run", ["fail=true"], device="cpu", progress=False)
    assert CALLS == [("prepare", False)]
    assert not (tmp_path / "run").exists()


def test_compatibility_is_judged_on_model_info() -> None:
    digits = ModelInfo("ebm", "digits", (1, 8, 8))
    check_compatible(digits, "same", ModelInfo("glow", "digits", (1, 8, 8)))
    with pytest.raises(EbmbenchError, match=r"baseline 'b' was trained on mnist \(1, 28, 28\)"):
        check_compatible(digits, "b", ModelInfo("glow", "mnist", (1, 28, 28)))
    with pytest.raises(EbmbenchError, match="trained on digits"):
        check_compatible(digits, "b", ModelInfo("glow", "digits", (1, 16, 16)))


def _ctx(dataset: str, baselines: dict | None = None, shape=(1, 8, 8), cache: Path = Path("/nonexistent"),
         defaults_too: bool = False):
    model = SimpleNamespace(info=ModelInfo("ebm", dataset, shape))
    return SimpleNamespace(model=model, dataset=dataset, baselines=baselines or {}, cache_dir=cache,
                           device=torch.device("cpu"), data=None, progress=False, model_name="m",
                           defaults_too=defaults_too)


def test_the_default_rule_embedded_data_and_no_named_baselines_only() -> None:
    assert wants_defaults(_ctx("digits")) and wants_defaults(_ctx("classes:0-4:digits"))
    assert not wants_defaults(_ctx("cifar10"))
    assert not wants_defaults(_ctx("digits", {"mine": object()}))
    assert wants_defaults(_ctx("digits", {"mine": object()}, defaults_too=True))  # --with-default-baselines
    assert not wants_defaults(_ctx("cifar10", {"mine": object()}, defaults_too=True))


def test_defaults_are_trained_on_the_models_data_named_apart_and_skipped_when_incompatible(
        tiny_classifier_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_cached_model(family, settings, cache_dir, device, data=None, progress=True):
        calls.append((family, settings))
        return tiny_classifier_path

    monkeypatch.setattr("ebmbench.zoo.cached_model", fake_cached_model)
    recipes = [Recipe("m", "classifier", {"width": 8}), Recipe("other", "classifier")]
    got = default_baselines(_ctx("digits"), recipes, taken=["m"])
    assert list(got) == ["m-default", "other"]
    assert calls == [("classifier", {"dataset": "digits", "width": 8}), ("classifier", {"dataset": "digits"})]
    assert got["m-default"].provenance()["train_settings"] == {"dataset": "digits", "width": 8}
    assert "width=8" in got["m-default"].note() and got["m-default"].sha256[:12] in got["m-default"].note()
    with pytest.warns(UserWarning, match="skipped"):  # the classifier is 1x8x8, this model 1x16x16
        assert default_baselines(_ctx("digits", shape=(1, 16, 16)), recipes) == {}
    assert default_baselines(_ctx("cifar10"), recipes) == {}
