"""ebmbench's KID against torch-fidelity's ``kid_features_to_metric`` on the same features and seed."""

import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from ebmbench.suites.quality import kid as kid_module
from ebmbench.suites.quality.kid import kernel_inception_distance


def _features(n: int, dim: int, shift: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, dim, generator=gen, dtype=torch.float64) + shift).abs()  # skewed, like ReLU features


def _direct(f1: torch.Tensor, f2: torch.Tensor, subsets: int, size: int, seed: int,
            gamma: float | None = None) -> tuple[float, float]:
    out = kid_features_to_metric(f1, f2, kid_subsets=subsets, kid_subset_size=size, rng_seed=seed, verbose=False,
                                 kid_kernel_poly_gamma=gamma)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


@pytest.mark.parametrize(("method", "gamma"), [("whole", None), ("whole", 0.02), ("subsets", 0.02), ("auto", None)])
@pytest.mark.parametrize(("n1", "n2", "size", "shift"), [(300, 250, 100, 0.3), (120, 120, 120, 0.0),
                                                         (90, 200, 40, 0.0)])
def test_matches_torch_fidelity_on_float64_features(method: str, gamma: float | None, n1: int, n2: int, size: int,
                                                    shift: float) -> None:
    """``whole`` is ebmbench's sums; ``subsets`` (the path for sets far larger than a subset) hands the kernel's
    settings on to torch-fidelity's own call; a non-default gamma checks both carry the kernel through."""
    f1, f2 = _features(n1, 24, shift, 1), _features(n2, 24, 0.0, 2)
    mean, std = kernel_inception_distance(f1, f2, subsets=15, subset_size=size, rng_seed=7, method=method,
                                          gamma=gamma)
    want_mean, want_std = _direct(f1, f2, 15, size, 7, gamma)
    assert mean == pytest.approx(want_mean, rel=1e-9, abs=1e-12)
    assert std == pytest.approx(want_std, rel=1e-7, abs=1e-12)


def test_rows_blocks_do_not_change_the_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    f1, f2 = _features(200, 16, 0.2, 3), _features(150, 16, 0.0, 4)
    whole = kernel_inception_distance(f1, f2, subsets=10, subset_size=100, rng_seed=0, method="whole")
    monkeypatch.setattr(kid_module, "BLOCK_ENTRIES", 7 * 200)  # blocks of 7 rows, the last one short
    assert kernel_inception_distance(f1, f2, subsets=10, subset_size=100, rng_seed=0,
                                     method="whole") == pytest.approx(whole, rel=1e-12)


def test_float32_features_agree_with_torch_fidelity_to_its_rounding() -> None:
    f1, f2 = _features(400, 64, 0.3, 5).float(), _features(400, 64, 0.0, 6).float()
    mean, _ = kernel_inception_distance(f1, f2, subsets=20, subset_size=200, rng_seed=0)
    assert mean == pytest.approx(_direct(f1, f2, 20, 200, 0)[0], rel=1e-4)


def test_auto_picks_whole_sets_near_the_subset_size_and_subsets_far_above_it() -> None:
    assert kid_module._whole_is_cheaper(1000, 1000, 2048, 100, 1000)
    assert not kid_module._whole_is_cheaper(50_000, 50_000, 2048, 100, 1000)


def test_subset_larger_than_a_set_and_unequal_widths_are_refused() -> None:
    with pytest.raises(ValueError, match="subset size 50"):
        kernel_inception_distance(_features(40, 4, 0, 0), _features(60, 4, 0, 1), 3, 50, 0)
    with pytest.raises(ValueError, match="one width"):
        kernel_inception_distance(_features(40, 4, 0, 0), _features(60, 5, 0, 1), 3, 20, 0)
