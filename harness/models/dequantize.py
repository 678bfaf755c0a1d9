"""One dequantization convention for every likelihood model, so their log-likelihoods are comparable.

Images in [0, 1] are treated as ``bins`` discrete levels (by default the levels the training data really has:
17 for the digits, whose values are j/16, and 256 for 8-bit images): level k covers the interval
[k / bins, (k + 1) / bins) (values of exactly 1.0 belong to the top level). A likelihood model gives a
probability P(k) to the levels of an image, and ``log_prob`` reports the continuous density on [0, 1]^D that is
uniform inside each level's cell: log p(x) = log P(k(x)) + D log(bins). That density is what a flow trained on
uniformly dequantized data approximates, so flows and discrete models (PixelCNN++) speak in the same units;
bits/dim of the discrete data follow from it with ``bits_per_dim``. In- and out-of-distribution images go
through the same function.
"""

from __future__ import annotations

import math

import torch

DEFAULT_BINS = 256


def levels(x: torch.Tensor, bins: int = DEFAULT_BINS) -> torch.Tensor:
    """The discrete level (0 .. bins - 1) of each value in [0, 1], as a float tensor."""
    return torch.floor(x * bins).clamp(0, bins - 1)


def bin_centres(x: torch.Tensor, bins: int = DEFAULT_BINS) -> torch.Tensor:
    """Each value moved to the centre of its level's cell: the deterministic point a flow is evaluated at."""
    return (levels(x, bins) + 0.5) / bins


def uniform_dequantize(x: torch.Tensor, bins: int = DEFAULT_BINS, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """A uniform sample inside each value's cell: the training input of a flow (Theis et al. 2016)."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (levels(x, bins) + noise) / bins


def bits_per_dim(log_prob: torch.Tensor, dims: int, bins: int = DEFAULT_BINS) -> torch.Tensor:
    """Bits per dimension of the ``bins``-level data from a density on [0, 1]^D: -(log p - D log bins)/(D ln 2)."""
    return -(log_prob - dims * math.log(bins)) / (dims * math.log(2.0))


def natural_bins(x: torch.Tensor, max_bins: int = DEFAULT_BINS) -> int:
    """The number L of equally spaced levels j / (L - 1) that the values of ``x`` lie on (the smallest that fits),
    or ``max_bins`` when they lie on no such grid: 17 for the digits, 256 for 8-bit images."""
    values = torch.unique(x.detach().flatten().double().cpu())
    for count in range(2, max_bins + 1):
        scaled = values * (count - 1)
        if torch.allclose(scaled, torch.round(scaled), rtol=0.0, atol=1e-4):
            return count
    return max_bins
