"""Simple restorations to set every EBM number beside: what any restoration should beat.

- noise corruptions: a 3 x 3 median filter per channel (``scipy.ndimage.median_filter``, reflecting borders);
- masks: the mean training image in the missing pixels, the known ones kept.
"""

from __future__ import annotations

import torch
from scipy import ndimage

from ebmbench.suites.restoration.corruptions import Corruption

MEDIAN = "median-filter"
MEAN_IMAGE = "mean-image"


def baseline_name(c: Corruption) -> str:
    return MEAN_IMAGE if c.is_mask else MEDIAN


def median_filter(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """A ``size`` x ``size`` median filter over each channel of each image of ``x`` (N, C, H, W)."""
    out = ndimage.median_filter(x.double().numpy(), size=(1, 1, size, size), mode="reflect")
    return torch.from_numpy(out).to(x.dtype)


def baseline_restore(c: Corruption, corrupted: torch.Tensor, known: torch.Tensor,
                     mean_image: torch.Tensor) -> torch.Tensor:
    """The simple baseline's restoration of ``corrupted`` (see the module docstring)."""
    if c.is_mask:
        return torch.where(known, corrupted, mean_image.expand_as(corrupted))
    return median_filter(corrupted)
