from pathlib import Path

import pytest
import torch
from sklearn.metrics import roc_auc_score

from ebmbench.checkpoint import load_checkpoint
from ebmbench.data import load_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.training.common import TrainRequest
from ebmbench.training.jem import Config, train

FAST = dict(width=16, batch_size=32, sgld_steps=4, buffer_size=256, checkpoint_every=1000)


def _train(out: Path, resume: bool = False, **kw) -> Path:
    return train(Config(**{**FAST, **kw}), TrainRequest(out, torch.device("cpu"), resume=resume, progress=False))


def test_jem_learns_labels_and_pushes_noise_energy_up(tmp_path: Path) -> None:
    ckpt = load_checkpoint(_train(tmp_path / "j.safetensors", iterations=60))
    model = ckpt.model
    assert model.family == "jem" and model.info.conditional and model.config["input_range"] == [-1.0, 1.0]
    x, y = load_dataset("digits", "test").tensors()
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        accuracy = (model.logits(x).argmax(1) == y).float().mean().item()
        e_data, e_noise = model.energy(x), model.energy(noise)
    assert accuracy > 0.25  # chance is 0.1
    assert ckpt.training["metrics"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    auroc = roc_auc_score([1] * len(x) + [0] * len(x), torch.cat([-e_data, -e_noise]).numpy())
    assert auroc > 0.95
    assert len(ckpt.state["state.buffer.images"]) == 256  # 60 x 32 chains filled the buffer


def test_without_the_px_term_noise_is_not_pushed_up(tmp_path: Path) -> None:
    """The contrastive term is what makes E(noise) high: a plain classifier's energies rank noise worse."""
    with_px = load_checkpoint(_train(tmp_path / "a.safetensors", iterations=40)).model
    without = load_checkpoint(_train(tmp_path / "b.safetensors", iterations=40, p_x_weight=0.0)).model
    x, _ = load_dataset("digits", "test").tensors()
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = {name: (m.energy(noise).mean() - m.energy(x).mean()).item()
               for name, m in (("with", with_px), ("without", without))}
    assert gap["with"] > gap["without"] + 1.0


def test_interrupted_run_resumes_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = load_checkpoint(_train(tmp_path / "full.safetensors", iterations=6, checkpoint_every=3))
    part = tmp_path / "part.safetensors"
    import ebmbench.training.loop as jem_training  # the shared loop checks every step

    real_check = jem_training.check_divergence

    def interrupt_at_step_4(metrics, limit, step, *rest):
        if step == 4:
            raise KeyboardInterrupt
        real_check(metrics, limit, step, *rest)

    monkeypatch.setattr(jem_training, "check_divergence", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        _train(part, iterations=6, checkpoint_every=3)
    assert load_checkpoint(part).training["step"] == 3
    monkeypatch.setattr(jem_training, "check_divergence", real_check)
    with pytest.raises(EbmbenchError, match=r"different config \(iterations 6 -> 7\)"):
        _train(part, resume=True, iterations=7, checkpoint_every=3)
    resumed = load_checkpoint(_train(part, resume=True, iterations=6, checkpoint_every=3))
    assert resumed.training["step"] == 6
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    for key in ("state.buffer.images", "state.rng.sampler", "state.rng.buffer"):
        assert torch.equal(full.state[key], resumed.state[key]), key


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="arch"):
        Config(arch="vit")
    with pytest.raises(ValueError, match=r"act norm.*imported checkpoints only"):
        Config(norm="act")
    with pytest.raises(EbmbenchError, match="WRN depth"):
        _train(tmp_path / "w.safetensors", arch="wrn", depth=12, iterations=1)


@pytest.mark.parametrize("norm", ["none", "layer"])
def test_wrn_jem_trains_on_small_images(tmp_path: Path, norm: str) -> None:
    ckpt = load_checkpoint(_train(tmp_path / "w.safetensors", arch="wrn", depth=10, width=1, iterations=2,
                                  norm=norm))
    assert ckpt.model.config["arch"] == "wrn" and ckpt.model.net.f.last_dim == 64
    assert ckpt.model.config["norm"] == norm == ckpt.model.net.f.norm
    assert isinstance(ckpt.model.net.f.bn1, torch.nn.GroupNorm) == (norm == "layer")


@pytest.mark.slow
def test_default_digits_jem_meets_the_issue_targets(tmp_path: Path) -> None:
    """Issue #10: test accuracy >= 0.93 and uniform-noise AUROC >= 0.99 with the default recipe."""
    torch.set_num_threads(2)
    out = train(Config(), TrainRequest(tmp_path / "jem.safetensors", torch.device("cpu"), progress=False))
    model = load_checkpoint(out).model
    x, y = load_dataset("digits", "test").tensors()
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        accuracy = (model.logits(x).argmax(1) == y).float().mean().item()
        scores = torch.cat([-model.energy(x), -model.energy(noise)])
    assert accuracy >= 0.93
    assert roc_auc_score([1] * len(x) + [0] * len(x), scores.numpy()) >= 0.99
