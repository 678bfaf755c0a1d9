"""Glow: invertibility, log-determinants against autograd Jacobians, the dequantization convention, actnorm
initialisation, checkpoints and a short training run that records test bits/dim."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ebmbench.checkpoint import load_checkpoint, read_header, save_checkpoint
from ebmbench.data.base import load_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability, ModelInfo
from ebmbench.models.dequantize import bin_centres, bits_per_dim, levels, natural_bins, uniform_dequantize
from ebmbench.models.glow import Glow, squeeze, unsqueeze
from ebmbench.options import build_options
from ebmbench.training import glow as glow_training
from ebmbench.training.common import TrainRequest


def _glow(shape: tuple[int, int, int] = (1, 4, 4), levels_: int = 2, steps: int = 2, seed: int = 0) -> Glow:
    """A tiny Glow with actnorm initialised on data and every parameter perturbed away from its identity init."""
    torch.manual_seed(seed)
    model = Glow(ModelInfo("glow", "digits", shape), {"levels": levels_, "steps": steps, "hidden": 8, "bins": 17})
    model.train()
    model.log_prob(torch.rand(32, *shape))
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def test_squeeze_is_a_permutation_and_unsqueeze_inverts_it() -> None:
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    s = squeeze(x)
    assert s.shape == (2, 12, 2, 3)
    assert torch.equal(torch.sort(s.flatten()).values, torch.sort(x.flatten()).values)
    assert torch.equal(unsqueeze(s), x)


@pytest.mark.parametrize(("shape", "levels_"), [((1, 4, 4), 2), ((3, 4, 4), 1), ((3, 8, 8), 3)])
def test_encode_decode_round_trip(shape: tuple[int, int, int], levels_: int) -> None:
    model = _glow(shape, levels_).double()
    h = torch.randn(5, *shape, dtype=torch.float64) * 0.3
    zs, _, _ = model.encode(h)
    assert sum(z[0].numel() for z in zs) == math.prod(shape)  # a bijection keeps the dimension
    assert torch.allclose(model.decode(zs), h, atol=1e-10)


@pytest.mark.parametrize(("shape", "levels_"), [((1, 4, 4), 2), ((3, 4, 4), 1)])
def test_log_det_matches_the_autograd_jacobian(shape: tuple[int, int, int], levels_: int) -> None:
    model = _glow(shape, levels_).double()
    h = (torch.randn(1, *shape) * 0.3).double()

    def flat_latents(v: torch.Tensor) -> torch.Tensor:
        return torch.cat([z.flatten() for z in model.encode(v.view(1, *shape))[0]])

    jacobian = torch.autograd.functional.jacobian(flat_latents, h.flatten())
    _, _, log_det = model.encode(h)
    assert torch.allclose(torch.linalg.slogdet(jacobian)[1], log_det[0], atol=1e-8)


def test_log_density_is_change_of_variables_through_the_priors() -> None:
    """With the split and top priors written out by hand, log p(h) = sum log N(z) + log|det J|."""
    model = _glow((1, 4, 4), 2).double()
    h = (torch.randn(3, 1, 4, 4) * 0.3).double()
    zs, kept, log_det = model.encode(h)
    mean, log_std = model.scales[0].prior_params(kept[0])
    normal = torch.distributions.Normal
    expected = (normal(mean, log_std.exp()).log_prob(zs[0]).flatten(1).sum(1)
                + normal(model.top_mean, model.top_log_std.exp()).log_prob(zs[1]).flatten(1).sum(1) + log_det)
    assert torch.allclose(model.log_density(h), expected)


def test_log_prob_is_the_density_at_the_cell_centre_and_constant_inside_a_cell() -> None:
    model = _glow((1, 4, 4), 2)
    x = torch.rand(4, 1, 4, 4)
    assert torch.allclose(model.log_prob(x), model.log_density(bin_centres(x, 17) - 0.5))
    inside = (levels(x, 17) + 0.9) / 17  # another point of the same cells
    assert torch.allclose(model.log_prob(inside), model.log_prob(x))
    bpd = model.bits_per_dim(x)
    assert torch.allclose(bpd, -(model.log_prob(x) - 16 * math.log(17)) / (16 * math.log(2)))
    assert model.has(Capability.LOG_PROB) and not model.has(Capability.ENERGY)


def test_dequantization_helpers() -> None:
    x = torch.tensor([0.0, 0.5, 1.0])
    assert levels(x, 17).tolist() == [0, 8, 16]
    u = uniform_dequantize(x.repeat(1000), 17, torch.Generator().manual_seed(0))
    assert torch.equal(levels(u, 17), levels(x.repeat(1000), 17))  # noise stays inside the value's cell
    assert natural_bins(load_dataset("digits", "train").tensors()[0]) == 17
    assert natural_bins(torch.arange(256) / 255.0) == 256
    assert natural_bins(torch.rand(100)) == 256
    # a uniform density on [0, 1]^D is 0 nats, i.e. log2(bins) bits per dimension
    assert bits_per_dim(torch.zeros(1), 64, 256).item() == pytest.approx(8.0)


def test_actnorm_initialises_once_from_the_first_training_batch() -> None:
    torch.manual_seed(0)
    model = Glow(ModelInfo("glow", "digits", (1, 4, 4)), {"levels": 1, "steps": 1, "hidden": 8})
    actnorm = model.scales[0].steps[0].layers[0]
    x = torch.rand(64, 1, 4, 4) * 0.2 + 0.4
    model.train()
    model.log_prob(x)
    out, _ = actnorm(squeeze(bin_centres(x) - 0.5))
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(out.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-3)
    before = actnorm.loc.detach().clone()
    model.log_prob(x + 0.3)
    assert torch.equal(actnorm.loc.detach(), before)


def test_checkpoint_round_trip_keeps_the_density(tmp_path: Path) -> None:
    model = _glow((1, 8, 8), 2)
    path = save_checkpoint(tmp_path / "glow.safetensors", model)
    loaded = load_checkpoint(path).model
    x = torch.rand(6, 1, 8, 8)
    assert torch.allclose(loaded.log_prob(x), model.log_prob(x))


def test_samples_are_images_in_range() -> None:
    x = _glow((1, 8, 8), 2).sample(4)
    assert x.shape == (4, 1, 8, 8) and x.min() >= 0 and x.max() <= 1


def test_training_lowers_bits_per_dim_and_records_test_bits_per_dim(tmp_path: Path) -> None:
    config = build_options(glow_training.Config, {"hidden": "8", "steps": "2", "iterations": "25",
                                                  "batch_size": "64", "warmup": "5"})
    req = TrainRequest(out=tmp_path / "g.safetensors", device=torch.device("cpu"), progress=False)
    path = glow_training.train(config, req)
    header = read_header(path)
    metrics = header["training"]["metrics"]
    assert header["config"]["bins"] == 17 and header["training"]["step"] == 25
    test = load_dataset("digits", "test").tensors()[0]
    trained = load_checkpoint(path).model
    assert metrics["test_bits_per_dim"] == pytest.approx(trained.bits_per_dim(test).mean().item(), rel=1e-5)
    untrained = glow_training.build(config, load_dataset("digits", "train")).eval()
    assert metrics["test_bits_per_dim"] < untrained.bits_per_dim(test).mean().item() - 1.0


def test_too_many_levels_for_the_image_is_a_clear_error() -> None:
    config = build_options(glow_training.Config, {"levels": "4"})
    with pytest.raises(EbmbenchError, match="divisible by 16"):
        glow_training.build(config, load_dataset("digits", "train"))


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches, dequantization noise and Adam state are restored, so stop-and-resume equals one straight run."""
    from ebmbench.training import density

    config = build_options(glow_training.Config, {"hidden": "8", "steps": "1", "levels": "1", "iterations": "8",
                                                  "checkpoint_every": "4", "batch_size": "32", "warmup": "2"})
    cpu = torch.device("cpu")
    straight = glow_training.train(config, TrainRequest(out=tmp_path / "a.safetensors", device=cpu, progress=False))
    real_step, calls = density._step, []

    def stop_after_five(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(density, "_step", stop_after_five)
    with pytest.raises(KeyboardInterrupt):
        glow_training.train(config, TrainRequest(out=tmp_path / "b.safetensors", device=cpu, progress=False))
    assert read_header(tmp_path / "b.safetensors")["training"]["step"] == 4
    monkeypatch.setattr(density, "_step", real_step)
    resumed = glow_training.train(config, TrainRequest(out=tmp_path / "b.safetensors", device=cpu, resume=True,
                                                       progress=False))
    a, b = load_checkpoint(straight).model.state_dict(), load_checkpoint(resumed).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
