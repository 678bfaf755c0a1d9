"""PixelCNN++: causal masking (a pixel's likelihood never depends on itself or later pixels), the discretized
logistic mixture against scipy's logistic distribution and its normalisation, checkpoints, and training."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import logistic

from ebmbench.checkpoint import load_checkpoint, read_header, save_checkpoint
from ebmbench.data.base import load_dataset
from ebmbench.models.base import ModelInfo
from ebmbench.models.dequantize import levels
from ebmbench.models.pixelcnn import PixelCNN, discretized_logistic_mixture, mixture_channels
from ebmbench.options import build_options
from ebmbench.training import pixelcnn as pixelcnn_training
from ebmbench.training.common import TrainRequest


def _pixelcnn(shape: tuple[int, int, int], resolutions: int = 1, bins: int = 256) -> PixelCNN:
    torch.manual_seed(0)
    model = PixelCNN(ModelInfo("pixelcnn", "digits", shape), {"filters": 8, "nr_resnet": 1, "nr_mix": 2,
                                                               "resolutions": resolutions, "bins": bins})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize(("shape", "resolutions"), [((1, 8, 8), 1), ((3, 8, 8), 1), ((1, 8, 8), 2),
                                                    ((3, 8, 8), 3)])
def test_pixel_likelihoods_depend_only_on_earlier_pixels(shape: tuple[int, int, int], resolutions: int) -> None:
    """Changing pixel j (all its channels) changes no likelihood at raster positions before j, always changes
    pixel j's own, and (receptive field) changes its right-hand neighbour's."""
    model = _pixelcnn(shape, resolutions)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, *shape, generator=gen)
    base = model.pixel_log_probs(x)[0].flatten()
    width = shape[2]
    for j in range(shape[1] * width):
        moved = x.clone()
        moved[0, :, j // width, j % width] = (x[0, :, j // width, j % width] + 0.5) % 1.0
        diff = (model.pixel_log_probs(moved)[0].flatten() - base).abs()
        assert diff[:j].max().item() == 0.0 if j else True, f"pixel {j} leaks into earlier pixels"
        assert diff[j] > 0
        if j % width + 1 < width:
            assert diff[j + 1] > 0


def test_network_outputs_have_zero_gradient_from_later_inputs() -> None:
    """The same property through autograd on the raw network (continuous inputs, all output channels)."""
    model = _pixelcnn((3, 8, 8), resolutions=2)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    out = model.net(x)
    for i, j in [(0, 0), (2, 5), (7, 7), (4, 0)]:
        (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
        seen = grad[0].abs().sum(0).flatten()
        assert seen[i * 8 + j:].max().item() == 0.0
        assert (i, j) == (0, 0) or seen[:i * 8 + j].sum() > 0


def test_single_logistic_matches_scipy_cell_probabilities() -> None:
    """One component, one channel: P(level k) = F(upper edge) - F(lower edge), the tails at the ends."""
    bins, mu, log_s = 16, 0.2, -1.3
    params = torch.tensor([0.0, mu, log_s], dtype=torch.float64).view(1, 3, 1, 1).expand(bins, -1, -1, -1)
    got = discretized_logistic_mixture(params, torch.arange(bins, dtype=torch.float64).view(bins, 1, 1, 1), 1, bins)
    edges = -1 + 2 * np.arange(bins + 1) / bins
    cdf = logistic.cdf(edges, loc=mu, scale=math.exp(log_s))
    cdf[0], cdf[-1] = 0.0, 1.0
    assert np.allclose(got.exp().flatten().numpy(), np.diff(cdf), atol=1e-10)


@pytest.mark.parametrize(("channels", "bins"), [(1, 256), (2, 32), (3, 8)])
def test_mixture_probabilities_sum_to_one_over_all_levels(channels: int, bins: int) -> None:
    """Summed over every joint level of a pixel's channels (channel means coupled by the coefficients). Cells
    with probability below 1e-5 use the density at their centre (the stable form), hence the tolerance."""
    torch.manual_seed(channels)
    nr_mix = 3
    grid = torch.tensor(list(itertools.product(range(bins), repeat=channels)), dtype=torch.float64)
    params = (2 * torch.randn(1, mixture_channels(channels, nr_mix), 1, 1, dtype=torch.float64))
    log_p = discretized_logistic_mixture(params.expand(len(grid), -1, -1, -1), grid.view(-1, channels, 1, 1),
                                         nr_mix, bins)
    assert log_p.exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_log_prob_is_level_likelihood_plus_cell_volume_and_constant_in_a_cell() -> None:
    model = _pixelcnn((1, 8, 8), bins=17)
    x = torch.rand(3, 1, 8, 8)
    expected = model.pixel_log_probs(x).flatten(1).sum(1) + 64 * math.log(17)
    assert torch.allclose(model.log_prob(x), expected)
    assert torch.allclose(model.log_prob((levels(x, 17) + 0.7) / 17), model.log_prob(x))
    assert torch.allclose(model.bits_per_dim(x), -model.pixel_log_probs(x).flatten(1).sum(1) / (64 * math.log(2)))


def test_checkpoint_round_trip_keeps_the_likelihood(tmp_path: Path) -> None:
    model = _pixelcnn((3, 8, 8), resolutions=2)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "p.safetensors", model)).model
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(loaded.log_prob(x), model.log_prob(x))


def test_training_lowers_bits_per_dim_and_records_test_bits_per_dim(tmp_path: Path) -> None:
    config = build_options(pixelcnn_training.Config, {"filters": "8", "iterations": "30", "warmup": "5"})
    path = pixelcnn_training.train(config, TrainRequest(out=tmp_path / "p.safetensors", device=torch.device("cpu"),
                                                        progress=False))
    metrics = read_header(path)["training"]["metrics"]
    test = load_dataset("digits", "test").tensors()[0]
    trained = load_checkpoint(path).model
    assert metrics["test_bits_per_dim"] == pytest.approx(trained.bits_per_dim(test).mean().item(), rel=1e-5)
    untrained = pixelcnn_training.build(config, load_dataset("digits", "train")).eval()
    assert metrics["test_bits_per_dim"] < untrained.bits_per_dim(test).mean().item() - 0.2
