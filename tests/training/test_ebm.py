import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.metrics import roc_auc_score

from ebmbench.checkpoint import load_checkpoint, read_header
from ebmbench.data import load_dataset
from ebmbench.errors import DivergenceError, EbmbenchError
from ebmbench.sampler import LangevinOptions
from ebmbench.training.common import TrainRequest
from ebmbench.training.ebm import Config, train

FAST = dict(width=16, batch_size=64, sample_steps=10, buffer_size=512, checkpoint_every=1000)


def _train(out: Path, resume: bool = False, **kw) -> Path:
    return train(Config(**{**FAST, **kw}), TrainRequest(out, torch.device("cpu"), resume=resume, progress=False))


def test_training_lowers_data_energy_relative_to_noise(tmp_path: Path) -> None:
    ckpt = load_checkpoint(_train(tmp_path / "m.safetensors", iterations=40, lr=1e-3))
    x, _ = load_dataset("digits", "test").tensors()
    noise = torch.rand_like(x)
    with torch.no_grad():
        e_data, e_noise = ckpt.model.energy(x), ckpt.model.energy(noise)
    assert e_noise.mean() > e_data.mean()
    # nearly every noise image sits above nearly every digit (energies are small: the L2 term keeps them so)
    auroc = roc_auc_score([1] * len(x) + [0] * len(x), torch.cat([-e_data, -e_noise]).numpy())
    assert auroc > 0.95
    assert ckpt.training["step"] == 40 and len(ckpt.state["state.buffer.images"]) > 0


@pytest.mark.parametrize("recipe", [{}, {"conditional": True, "ce_coeff": 1.0}, {"ema": 0.5}])
def test_interrupted_run_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     recipe: dict) -> None:
    full = load_checkpoint(_train(tmp_path / "full.safetensors", iterations=6, checkpoint_every=3, **recipe))
    part = tmp_path / "part.safetensors"
    import ebmbench.training.loop as ebm_training  # the shared loop checks every step

    real_check = ebm_training.check_divergence

    def interrupt_at_step_4(metrics, limit, step, *rest):
        if step == 4:
            raise KeyboardInterrupt
        real_check(metrics, limit, step, *rest)

    monkeypatch.setattr(ebm_training, "check_divergence", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        _train(part, iterations=6, checkpoint_every=3, **recipe)
    assert load_checkpoint(part).training["step"] == 3
    monkeypatch.setattr(ebm_training, "check_divergence", real_check)
    with pytest.raises(EbmbenchError, match=r"different config \(iterations 6 -> 7\)"):
        _train(part, resume=True, iterations=7, checkpoint_every=3, **recipe)
    resumed = load_checkpoint(_train(part, resume=True, iterations=6, checkpoint_every=3, **recipe))
    assert resumed.training["step"] == 6
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    for k, v in full.state.items():  # the live weights beside an average, too
        assert torch.equal(v, resumed.state[k]), k


def test_weight_average_is_the_exponential_average_of_the_live_weights(tmp_path: Path) -> None:
    """The saved model is decay-weighted over the live weights of every step (the initial weights included);
    the live weights are those of a run without an average (training never sees the average)."""
    from ebmbench.devices import seed_everything
    from ebmbench.training.ebm import build

    decay = 0.6
    seed_everything(0)
    w0 = build(Config(**FAST), ((1, 8, 8), 10)).state_dict()
    w1, w2 = (load_checkpoint(_train(tmp_path / f"live{n}.safetensors", iterations=n)).model.state_dict()
              for n in (1, 2))
    avg = load_checkpoint(_train(tmp_path / "avg.safetensors", iterations=2, ema=decay))
    for k, v in avg.model.state_dict().items():
        want = decay ** 2 * w0[k] + decay * (1 - decay) * w1[k] + (1 - decay) * w2[k]
        torch.testing.assert_close(v, want, rtol=1e-5, atol=1e-6)
        assert torch.equal(avg.state[f"state.live.{k}"], w2[k]), k
    with pytest.raises(ValueError, match="ema=1"):
        Config(ema=1.0)


def test_cross_entropy_term_needs_labels_and_adds_to_the_loss(tmp_path: Path) -> None:
    """``ce_coeff`` adds ce_coeff x cross-entropy of the logits -E(x, y) to the contrastive loss (JEM's hybrid)."""
    import ebmbench.training.ebm as ebm_training

    with pytest.raises(ValueError, match="conditional"):
        Config(ce_coeff=1.0)
    x, y = load_dataset("digits", "train").tensors(32, seed=0)
    x_neg = torch.rand(x.shape, generator=torch.Generator().manual_seed(1))
    losses = {}
    for coeff in (0.0, 2.0):
        config = Config(**{**FAST, "conditional": True, "ce_coeff": coeff})
        torch.manual_seed(0)
        model = ebm_training.build(config, ((1, 8, 8), 10))
        with torch.no_grad():
            expected_ce = torch.nn.functional.cross_entropy(-model.energy_all_classes(x), y).item()
            losses[coeff] = ebm_training.Objective(model, config)(x, y, x_neg, y)["loss"].item()
    assert losses[2.0] - losses[0.0] == pytest.approx(2.0 * expected_ce, rel=1e-5)


def test_resume_with_a_generator_state_from_another_device_type_reseeds_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA generator's state is 16 bytes, a CPU one's 5056: a checkpoint left by a run on the other device
    type (the model cache resumes whatever it finds) must resume, not crash."""
    import ebmbench.training.loop as ebm_training  # the shared loop checks every step

    real_check = ebm_training.check_divergence

    def interrupt_at_step_4(metrics, limit, step, *rest):
        if step == 4:
            raise KeyboardInterrupt
        real_check(metrics, limit, step, *rest)

    part = tmp_path / "part.safetensors"
    monkeypatch.setattr(ebm_training, "check_divergence", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        _train(part, iterations=6, checkpoint_every=3)
    monkeypatch.setattr(ebm_training, "check_divergence", real_check)
    tensors = load_file(str(part))
    tensors["state.rng.sampler"] = torch.zeros(16, dtype=torch.uint8)  # the size of a CUDA generator's state
    save_file(tensors, str(part), metadata={"ebmbench": json.dumps(read_header(part))})
    with pytest.warns(UserWarning, match="another device type; reseeded"):
        resumed = load_checkpoint(_train(part, resume=True, iterations=6, checkpoint_every=3))
    assert resumed.training["step"] == 6


def test_divergence_stops_with_clear_message_and_keeps_checkpoint(tmp_path: Path) -> None:
    out = _train(tmp_path / "m.safetensors", iterations=2)
    before = out.read_bytes()
    with pytest.raises(DivergenceError, match=r"diverged at step 0.*last good checkpoint"):
        train(Config(**{**FAST, "iterations": 2, "max_energy": 1e-12, "seed": 1}),
              TrainRequest(tmp_path / "m.safetensors", torch.device("cpu"), progress=False))
    assert out.read_bytes() == before


def test_conditional_training_uses_labels(tmp_path: Path) -> None:
    """Label modulation starts at zero, so only training with labels can make E(x, y) depend on y; after 80
    iterations the true label already has the lowest energy far more often than chance (0.1) (with the paper's
    sampler, whose larger steps give the labels' energies their differences sooner than the digits recipe's)."""
    paper = LangevinOptions(step_size=10.0, noise=0.005, grad_clip=0.01)
    ckpt = load_checkpoint(_train(tmp_path / "c.safetensors", iterations=80, conditional=True, lr=1e-3,
                                  sampler=paper))
    assert ckpt.model.info.conditional and ckpt.model.info.num_classes == 10
    x, y = load_dataset("digits", "test").tensors()
    with torch.no_grad():
        energies = ckpt.model.energy_all_classes(x)
    assert energies.shape == (len(x), 10)
    assert (energies.argmin(1) == y).float().mean().item() > 0.3
    assert (energies.gather(1, y[:, None])[:, 0] < energies.mean(1)).float().mean().item() > 0.75
