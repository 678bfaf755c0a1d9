"""The classifier trainer: adversarial training (threat-model parsing, its PGD against a direct torchattacks call,
and (slow) that PGD training buys robustness a standard classifier lacks) and Gaussian noise augmentation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchattacks
from sklearn.metrics import accuracy_score

import ebmbench.training.classifier as classifier_training
from ebmbench.checkpoint import load_checkpoint
from ebmbench.data.base import load_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import ModelInfo
from ebmbench.models.classifier import Classifier
from ebmbench.models.networks import resolve_arch
from ebmbench.options import build_options
from ebmbench.training.classifier import Config, add_training_noise, pgd_attack, train
from ebmbench.training.common import TrainRequest


def _config(**settings: object) -> Config:
    return build_options(Config, {k: v for k, v in settings.items()})


def test_adversary_parsing() -> None:
    assert _config().adversary() is None
    assert _config(adv_train="linf:0.1").adversary() == ("linf", 0.1)
    assert _config(adv_train="l2:0.5").adversary() == ("l2", 0.5)
    for bad in ("l1:0.1", "linf:abc", "linf"):
        with pytest.raises(EbmbenchError, match="adv_train"):
            _config(adv_train=bad).adversary()


@pytest.mark.parametrize("norm,eps,cls", [("linf", 0.1, torchattacks.PGD), ("l2", 0.5, torchattacks.PGDL2)])
def test_training_attack_is_torchattacks_pgd_inside_the_ball(norm: str, eps: float, cls: type) -> None:
    torch.manual_seed(0)
    model = Classifier(ModelInfo("classifier", "digits", (1, 8, 8), 10), resolve_arch("small", width=8)).eval()
    x, y = load_dataset("digits", "test").tensors(24, seed=0)
    torch.manual_seed(4)
    adv = pgd_attack(model, x, y, norm, eps, steps=3)
    torch.manual_seed(4)
    ref = cls(model.logits_module(), eps=eps, alpha=2.5 * eps / 3, steps=3, random_start=True)(x, y)
    assert torch.equal(adv, ref)
    delta = (adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert size.max().item() <= eps + 1e-5 and adv.min() >= 0 and adv.max() <= 1


def test_adversarial_training_run_records_its_threat_model(tmp_path: Path) -> None:
    config = _config(width=4, iterations=2, batch_size=16, adv_train="linf:0.1", adv_steps=2)
    path = train(config, TrainRequest(out=tmp_path / "adv.safetensors", device=torch.device("cpu"), progress=False))
    ckpt = load_checkpoint(path)
    assert ckpt.training["config"]["adv_train"] == "linf:0.1" and ckpt.training["step"] == 2
    x, y = load_dataset("digits", "test").tensors()
    with torch.no_grad():
        predicted = ckpt.model.eval().logits(x).argmax(1)
    assert ckpt.training["metrics"]["test_accuracy"] == pytest.approx(accuracy_score(y.numpy(), predicted.numpy()))


@pytest.mark.slow
def test_pgd_training_buys_robustness(tmp_path: Path) -> None:
    common = {"width": 16, "iterations": 200, "batch_size": 64}
    robust = {}
    x, y = load_dataset("digits", "test").tensors()
    for name, extra in (("standard", {}), ("pgd", {"adv_train": "linf:0.1", "adv_steps": 3})):
        path = train(_config(**common, **extra), TrainRequest(out=tmp_path / f"{name}.safetensors",
                                                              device=torch.device("cpu"), progress=False))
        model = load_checkpoint(path).model.eval()
        torch.manual_seed(0)
        adv = torchattacks.PGD(model.logits_module(), eps=0.1, alpha=0.025, steps=10)(x, y)
        robust[name] = (model.logits(adv).argmax(1) == y).float().mean().item()
    assert robust["pgd"] > robust["standard"] + 0.2


def test_training_noise_levels_are_uniform_per_image_and_seeded() -> None:
    x = torch.full((4000, 1, 8, 8), 0.5)
    noisy = add_training_noise(x, 0.2, seed=3)  # 0.5 +- 0.2 * 4 sd stays inside [0, 1]: no clipping
    assert torch.equal(noisy, add_training_noise(x, 0.2, seed=3))
    assert not torch.equal(noisy, add_training_noise(x, 0.2, seed=4))
    sigmas = (noisy - x).flatten(1).std(1)
    # per-image levels s ~ U(0, 0.2): mean 0.1, standard deviation 0.2 / sqrt(12)
    assert abs(sigmas.mean().item() - 0.1) < 0.005
    assert abs(sigmas.std().item() - 0.2 / 12 ** 0.5) < 0.005
    assert add_training_noise(torch.rand(64, 1, 8, 8), 1.0, seed=0).aminmax() == (torch.tensor(0.0), torch.tensor(1.0))


def test_noise_augmented_run_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {"width": 4, "iterations": 6, "batch_size": 16, "noise_aug": 0.5, "checkpoint_every": 3}
    request = {"device": torch.device("cpu"), "progress": False}
    full = load_checkpoint(train(_config(**settings), TrainRequest(out=tmp_path / "full.safetensors", **request)))
    real_noise = classifier_training.add_training_noise

    def interrupt_at_step_4(x: torch.Tensor, max_sigma: float, seed: int) -> torch.Tensor:
        if seed == 4:
            raise KeyboardInterrupt
        return real_noise(x, max_sigma, seed)

    monkeypatch.setattr(classifier_training, "add_training_noise", interrupt_at_step_4)
    part = tmp_path / "part.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train(_config(**settings), TrainRequest(out=part, **request))
    monkeypatch.setattr(classifier_training, "add_training_noise", real_noise)
    resumed = load_checkpoint(train(_config(**settings), TrainRequest(out=part, resume=True, **request)))
    assert resumed.training["config"]["noise_aug"] == 0.5 and resumed.training["step"] == 6
    for (key, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_out_of_range_options_are_refused_before_training(tmp_path: Path) -> None:
    for settings, message in (({"noise_aug": "-0.1"}, r"noise_aug=-0.1 \(must be >= 0\)"),
                              ({"iterations": "0"}, r"iterations=0 \(must be >= 1\)"),
                              ({"lr": "-1"}, r"lr=-1.0 \(must be > 0\)"),
                              ({"batch_size": "0", "width": "-3"}, r"batch_size=0 .*width=-3")):
        with pytest.raises(EbmbenchError, match=r"invalid options for `train --kind classifier`: " + message):
            _config(**settings)
    with pytest.raises(EbmbenchError, match="positive radius"):
        _config(adv_train="linf:-1").adversary()
    assert not list(tmp_path.iterdir())
