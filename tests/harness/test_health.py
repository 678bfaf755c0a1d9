"""Model-health checks: each fires on a deliberately degenerate model and stays quiet on a healthy one (a
class-conditional Gaussian energy around the digits' class means, sampled with sensible settings)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.health import ChainProbe, HealthWarning, check_model
from ebmbench.models.base import Capability, Model, ModelInfo
from ebmbench.sampler import LangevinConfig

INFO = ModelInfo(family="test", dataset="digits", input_shape=(1, 8, 8), num_classes=10, conditional=True)
SANE = LangevinConfig(steps=30, step_size=0.01, noise=0.01, grad_clip=None, clamp=(0.0, 1.0))


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    return load_dataset("digits", "test", DataContext()).tensors(128, seed=0)


class Energy(Model):
    """E(x, y) from a plain function of (x, y), for building healthy and broken models."""

    family: ClassVar[str] = "test"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.ENERGY, Capability.LOGITS})

    def __init__(self, fn: Any, info: ModelInfo = INFO) -> None:
        super().__init__(info, {})
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros(()))

    def energy(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.fn(x, y)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return -self.energy_all_classes(x)


def _gaussian(var: float = 0.05) -> Energy:
    """A healthy class-conditional energy: squared distance to the class mean of the training digits."""
    x, y = load_dataset("digits", "train", DataContext()).tensors()
    means = torch.stack([x[y == k].mean(0) for k in range(10)])
    return Energy(lambda z, labels: ((z - means[labels]) ** 2).flatten(1).sum(1) / (2 * var))


def _fired(model: Model, probe: ChainProbe | None = None, **kw: Any) -> dict[str, bool]:
    x, y = _digits()
    return {c.name: c.fired for c in check_model(model, x, probe, seed=0, labels=y, **kw)}


def test_healthy_model_passes_every_check() -> None:
    model = _gaussian()
    assert _fired(model, ChainProbe(SANE)) == dict.fromkeys(
        ("flat_energy", "uniform_labels", "chain_static", "chain_diverge", "chain_clamp"), False)
    assert not any(_fired(model, ChainProbe(SANE, start="data", project_radius=0.1)).values())


def test_flat_energy_and_uniform_labels_fire_on_a_nearly_constant_energy() -> None:
    flat = Energy(lambda z, labels: 0.003 + 1e-4 * z.flatten(1).mean(1) + 1e-5 * labels.float())
    got = _fired(flat)
    assert got == {"flat_energy": True, "uniform_labels": True}


def test_uniform_labels_spares_an_accurate_classifier_with_small_energies() -> None:
    """Issue #11: the digits EBMs keep label energies within hundredths of a nat (mean max-softmax near chance)
    while their argmin is right on most digits. Such a model is underconfident, not guessing: the check stays
    quiet when the labels show it, fires without labels to show it, and fires on a small-scale energy whose
    argmin is no better than a guess."""
    x, y = _digits()
    accurate = Energy(lambda z, labels: _gaussian().fn(z, labels) / 2000)  # label gaps of ~0.01 nats
    guessing = Energy(lambda z, labels: _gaussian().fn(z.flip(-1, -2), labels) / 2000)  # the right scale, no skill
    for model, labelled, fires in ((accurate, True, False), (accurate, False, True), (guessing, True, True)):
        check = next(c for c in check_model(model, x, None, seed=0, labels=y if labelled else None)
                     if c.name == "uniform_labels")
        assert check.figures["mean_max_softmax"] < 0.15 and check.fired is fires
        if labelled:  # the accuracy it was held to, measured independently
            with torch.no_grad():
                want = (model.energy_all_classes(x).argmin(1) == y).double().mean().item()
            assert check.figures["accuracy"] == pytest.approx(want) and check.figures["accuracy_threshold"] == 0.55
    assert check.figures["accuracy"] < 0.55


def test_flat_energy_fires_on_a_large_offset_with_a_tiny_landscape() -> None:
    offset = Energy(lambda z, labels: 1000 + _gaussian(1.0).fn(z, labels))  # a gap of ~4 nats on 1000
    checks = {c.name: c for c in check_model(offset, _digits()[0], None, seed=0)}
    assert checks["flat_energy"].fired and checks["flat_energy"].figures["gap"] > 0.1


def test_static_chain_fires_when_the_gradient_is_clipped_to_nothing() -> None:
    clipped = LangevinConfig(steps=30, step_size=0.01, noise=0.01, grad_clip=1e-3, clamp=(0.0, 1.0))
    got = _fired(_gaussian(), ChainProbe(clipped))
    assert got["chain_static"] and not got["chain_diverge"] and not got["flat_energy"]


def test_diverging_chain_fires_when_the_step_overshoots_and_on_nan() -> None:
    overshoot = LangevinConfig(steps=30, step_size=1.0, noise=0.0, grad_clip=None, clamp=(0.0, 1.0))
    got = _fired(_gaussian(), ChainProbe(overshoot))
    assert got["chain_diverge"] and got["chain_clamp"] and not got["chain_static"]
    nan = Energy(lambda z, labels: _gaussian().fn(z, labels) * torch.where(z.flatten(1)[:, :1].sum(1) > 2, 1.0,
                                                                            float("nan")))
    assert _fired(nan, ChainProbe(SANE))["chain_diverge"]


def test_clamped_chain_fires_when_the_energy_pushes_every_pixel_to_the_bound() -> None:
    push = Energy(lambda z, labels: _gaussian().fn(z, labels) - 100 * z.flatten(1).sum(1))
    got = _fired(push, ChainProbe(SANE))
    assert got["chain_clamp"] and not got["chain_diverge"] and not got["chain_static"]


def test_checks_run_in_every_suite_and_show_in_the_records(tiny_cond_ebm_path: Path, tmp_path: Path) -> None:
    from ebmbench.runner import run_suite

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = run_suite("energy", tiny_cond_ebm_path, tmp_path / "energy", ["noise_n=50"], device="cpu",
                        progress=False)
    records = {r.metric: r for r in run.records() if r.metric.startswith("health_")}
    assert set(records) == {"health_flat_energy", "health_uniform_labels", "health_chain_static",
                            "health_chain_diverge", "health_chain_clamp"}
    fired = {m for m, r in records.items() if r.value == 1}
    assert fired  # a 3-iteration EBM is degenerate; it must say so
    assert all(r.extra["passed"] == (r.value == 0) for r in records.values())
    messages = [str(w.message) for w in caught if issubclass(w.category, HealthWarning)]
    assert len(messages) == len(fired)
    saved = json.loads((tmp_path / "energy" / "health.json").read_text())
    assert {c["check"] for c in saved if c["fired"]} == {m.removeprefix("health_") for m in fired}
    from ebmbench.reports.load import load_runs
    from ebmbench.reports.report import render_report
    from ebmbench.summary import health_lines

    report = render_report(load_runs([tmp_path / "energy"]), "md")
    table = report.split("## energy", 1)[1]  # the warning sits under the energy numbers it concerns
    for metric in fired:
        assert f"Model-health warning ({metric.removeprefix('health_')}) for" in table
    assert len(health_lines(run.records())) == len(fired)


@pytest.mark.parametrize("kind", ["unconditional"])
def test_unconditional_models_skip_the_label_check(kind: str) -> None:
    info = ModelInfo(family="test", dataset="digits", input_shape=(1, 8, 8))
    model = Energy(lambda z, _y: ((z - 0.3) ** 2).flatten(1).sum(1) / 0.1, info)
    assert set(_fired(model, ChainProbe(SANE))) == {"flat_energy", "chain_static", "chain_diverge", "chain_clamp"}
