"""Kernel Inception Distance: torch-fidelity's estimator (the unbiased MMD² under the cubic polynomial kernel,
averaged over random subsets of both sets), computed without a kernel matrix per subset where that is cheaper.

torch-fidelity builds three subset_size² kernel matrices for each of its (100) subsets. A subset's kernel sum
is ``w' K w`` for the subset's indicator vector ``w``, so when the sets are not much larger than a subset (the
digits defaults, and any run of a few thousand images) the whole-set kernel matrices are built once, block of
rows by block of rows, and all the subsets' sums come from one product with the matrix of indicator vectors.
The subsets are torch-fidelity's own draws (``numpy.random.RandomState(rng_seed)``, ``choice`` without
replacement, set 1 then set 2) and the sums are taken in float64, so the values are torch-fidelity's on float64
features (its float32 arithmetic on float32 features differs from them by its own rounding: up to about 1% of
a KID near zero). Where the sets are so much larger than a subset that the whole-set matrices would cost more
(CIFAR-10's 50 000 images), torch-fidelity's own ``kid_features_to_metric`` computes it, as before.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

BLOCK_ENTRIES = 2**22  # kernel entries held at a time (32 MiB of float64): memory stays flat in the set sizes


def kernel_inception_distance(features_1: torch.Tensor, features_2: torch.Tensor, subsets: int, subset_size: int,
                              rng_seed: int, degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
                              method: Literal["auto", "whole", "subsets"] = "auto") -> tuple[float, float]:
    """KID of ``features_1`` against ``features_2`` (rows are examples): the mean and the (population) std of
    the unbiased MMD² over ``subsets`` random subsets of ``subset_size`` rows of each set.

    ``method`` chooses how the subset sums are found ("auto": whichever takes fewer operations): "subsets" is
    torch-fidelity's own computation (float32 for float32 features), "whole" is float64 throughout.
    """
    n1, n2 = len(features_1), len(features_2)
    if subset_size > min(n1, n2) or subset_size < 2:
        raise ValueError(f"KID subset size {subset_size} must be between 2 and the smaller set's size "
                         f"({min(n1, n2)})")
    if features_1.dim() != 2 or features_1.shape[1:] != features_2.shape[1:]:
        raise ValueError(f"KID needs two sets of feature rows of one width, not {tuple(features_1.shape)} and "
                         f"{tuple(features_2.shape)}")
    if method == "auto":
        method = "whole" if _whole_is_cheaper(n1, n2, features_1.shape[1], subsets, subset_size) else "subsets"
    if method == "subsets":
        return _torch_fidelity(features_1, features_2, subsets, subset_size, rng_seed, degree, gamma, coef0)
    x, y = features_1.detach().cpu().double(), features_2.detach().cpu().double()
    kernel = _PolynomialKernel(degree, 1.0 / x.shape[1] if gamma is None else gamma, coef0)
    sums = _sums_whole(x, y, _subsets(n1, n2, subsets, subset_size, rng_seed), kernel)
    m = subset_size
    mmd2 = (sums["xx"] + sums["yy"]) / (m * (m - 1)) - 2 * sums["xy"] / (m * m)
    return float(mmd2.mean()), float(mmd2.std(unbiased=False))


def _torch_fidelity(features_1: torch.Tensor, features_2: torch.Tensor, subsets: int, subset_size: int,
                    rng_seed: int, degree: int, gamma: float | None, coef0: float) -> tuple[float, float]:
    from torch_fidelity.metric_kid import kid_features_to_metric

    out = kid_features_to_metric(features_1, features_2, kid_subsets=subsets, kid_subset_size=subset_size,
                                 rng_seed=rng_seed, verbose=False, kid_kernel_poly_degree=degree,
                                 kid_kernel_poly_gamma=gamma, kid_kernel_poly_coef0=coef0)
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


class _PolynomialKernel:
    """k(a, b) = (gamma * a.b + coef0) ** degree."""

    def __init__(self, degree: int, gamma: float, coef0: float) -> None:
        self.degree, self.gamma, self.coef0 = degree, gamma, coef0

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a @ b.T * self.gamma + self.coef0) ** self.degree

    def diagonal(self, a: torch.Tensor) -> torch.Tensor:
        return ((a * a).sum(1) * self.gamma + self.coef0) ** self.degree


def _subsets(n1: int, n2: int, subsets: int, size: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """torch-fidelity's draws, in its order: for each subset, rows of set 1, then rows of set 2."""
    rng = np.random.RandomState(seed)
    return [(rng.choice(n1, size, replace=False), rng.choice(n2, size, replace=False)) for _ in range(subsets)]


def _whole_is_cheaper(n1: int, n2: int, dim: int, subsets: int, size: int) -> bool:
    whole = (n1 * n1 + n2 * n2 + n1 * n2) * (dim + subsets)
    return whole <= 3 * subsets * size * size * dim


def _sums_whole(x: torch.Tensor, y: torch.Tensor, picks: list[tuple[np.ndarray, np.ndarray]],
                kernel: _PolynomialKernel) -> dict[str, torch.Tensor]:
    """Every subset's off-diagonal within-set sums and cross sum, from whole-set kernels built block by block."""
    w1, w2 = _indicators(len(x), [p[0] for p in picks]), _indicators(len(y), [p[1] for p in picks])
    return {"xx": _quadratic_forms(x, x, w1, w1, kernel) - w1.T @ kernel.diagonal(x),
            "yy": _quadratic_forms(y, y, w2, w2, kernel) - w2.T @ kernel.diagonal(y),
            "xy": _quadratic_forms(x, y, w1, w2, kernel)}


def _indicators(n: int, rows: list[np.ndarray]) -> torch.Tensor:
    """An n x subsets matrix whose column s is 1 on the rows subset s holds."""
    w = torch.zeros(n, len(rows), dtype=torch.float64)
    for s, r in enumerate(rows):
        w[torch.from_numpy(r), s] = 1.0
    return w


def _quadratic_forms(a: torch.Tensor, b: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor,
                     kernel: _PolynomialKernel) -> torch.Tensor:
    """wa[:, s]' K(a, b) wb[:, s] for every subset s, holding only a block of K's rows at a time."""
    out = torch.zeros(wa.shape[1], dtype=torch.float64)
    block = max(1, BLOCK_ENTRIES // len(b))
    for start in range(0, len(a), block):
        rows = slice(start, start + block)
        out += (wa[rows] * (kernel(a[rows], b) @ wb)).sum(0)
    return out
