"""Image restoration metrics, per image, batched in torch.

- **PSNR** = 10 log10(R^2 / MSE) in dB, R the data range (1 for images in [0, 1]); MSE over all pixels and
  channels of one image, floored at 1e-10 R^2 so that a perfect restoration reads 100 dB instead of infinity.
- **SSIM** (Wang et al. 2004) with scikit-image's defaults, which the tests check against
  ``skimage.metrics.structural_similarity``: a ``win_size`` x ``win_size`` uniform window (7), K1 = 0.01,
  K2 = 0.03, sample (co)variances (N - 1 denominators), the map averaged over the windows that lie wholly inside
  the image and over channels. Images smaller than the window are refused by the suite before it runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PSNR_FLOOR = 1e-10


def psnr(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR of each image of ``x`` (N, C, H, W) against ``ref``, in dB."""
    mse = (x.double() - ref.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse.clamp_min(PSNR_FLOOR * data_range**2))


def ssim(x: torch.Tensor, ref: torch.Tensor, data_range: float = 1.0, win_size: int = 7) -> torch.Tensor:
    """Mean SSIM of each image of ``x`` (N, C, H, W) against ``ref`` (see the module docstring)."""
    if min(x.shape[-2:]) < win_size or win_size % 2 == 0:
        raise ValueError(f"SSIM needs an odd window no larger than the image; got {win_size} for "
                         f"{tuple(x.shape[-2:])} images")
    a, b = x.double(), ref.double()
    pool = lambda t: F.avg_pool2d(t, win_size, stride=1)  # noqa: E731 - the window mean over valid positions
    mu_a, mu_b = pool(a), pool(b)
    m = win_size * win_size
    cov = m / (m - 1)  # sample (co)variances
    var_a = cov * (pool(a * a) - mu_a * mu_a)
    var_b = cov * (pool(b * b) - mu_b * mu_b)
    cov_ab = cov * (pool(a * b) - mu_a * mu_b)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov_ab + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(dim=1)
