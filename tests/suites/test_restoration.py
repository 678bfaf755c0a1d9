"""The restoration suite's metrics against a hand formula (PSNR) and scikit-image (SSIM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ebmbench.suites.restoration.metrics import psnr, ssim


def test_psnr_hand_formula() -> None:
    ref = torch.zeros(2, 1, 4, 4)
    x = ref.clone()
    x[0, 0, 0, 0] = 0.5  # MSE = 0.25 / 16
    x[1] += 0.1  # MSE = 0.01
    got = psnr(x, ref)
    assert got[0].item() == pytest.approx(10 * math.log10(16 / 0.25))
    assert got[1].item() == pytest.approx(20.0, abs=1e-5)
    assert psnr(ref, ref)[0].item() == pytest.approx(100.0)  # floored MSE
    assert psnr(x * 255, ref * 255, data_range=255.0)[1].item() == pytest.approx(20.0, abs=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 12), (1, 7, 7)])
def test_ssim_matches_scikit_image(shape: tuple[int, int, int]) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand((5, *shape), generator=gen)
    x = (ref + 0.2 * torch.randn(ref.shape, generator=gen)).clamp(0, 1)
    x[0] = ref[0]
    got = ssim(x, ref)
    for i in range(len(x)):
        a, b = x[i].numpy().astype(np.float64), ref[i].numpy().astype(np.float64)
        theirs = metrics.structural_similarity(a, b, data_range=1.0, channel_axis=0)
        assert got[i].item() == pytest.approx(theirs, abs=1e-9)
    assert got[0].item() == pytest.approx(1.0)


def test_ssim_on_real_digits_matches_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    from ebmbench.data.base import DataContext, load_dataset

    clean, _ = load_dataset("digits", "test", DataContext()).tensors(6, seed=0)
    noisy = (clean + 0.3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    got = ssim(noisy, clean)
    theirs = [metrics.structural_similarity(noisy[i, 0].double().numpy(), clean[i, 0].double().numpy(),
                                            data_range=1.0) for i in range(6)]
    np.testing.assert_allclose(got.numpy(), theirs, atol=1e-9)


def test_ssim_refuses_images_smaller_than_window() -> None:
    with pytest.raises(ValueError, match="window"):
        ssim(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 5, 5))
