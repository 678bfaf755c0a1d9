"""Mixing diagnostics of MCMC traces (numpy, float64): effective sample size, split R-hat and burn-in.

- **ESS per chain** (Geyer 1992's initial monotone sequence estimator, as used by Stan): with the chain's
  autocorrelations rho_t (biased autocovariance over N, by FFT), sum pairs P_m = rho_{2m} + rho_{2m+1} while they
  stay positive (initial positive sequence), make them non-increasing (P_m = min(P_m, P_{m-1})), then
  tau = -1 + 2 sum_m P_m and ESS = N / tau. A constant chain gets ESS = N (nothing to estimate). For an AR(1)
  process with coefficient phi the true value is N (1 - phi) / (1 + phi).
- **Split R-hat** (Gelman et al. 2013, BDA3 section 11.4): each of M chains is cut into two halves of n draws
  (a middle draw of an odd-length chain is dropped), W is the mean within-half variance, B / n the variance of
  the half means, var+ = (n - 1) / n W + B / n and R-hat = sqrt(var+ / W). Values near 1 say the chains agree;
  above 1.1 (the classic threshold; 1.01 in Vehtari et al. 2021) they do not.
- **Burn-in** (MSER, White 1997): the truncation d in [0, N/2] that minimises the squared standard error of the
  mean of what remains, sum_{t >= d} (x_t - mean_{>=d})^2 / (N - d)^2. A d at the bound N/2 says the trace is
  still drifting (no burn-in within the first half).
"""

from __future__ import annotations

import numpy as np


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Autocorrelations rho_0..rho_{N-1} along the last axis (biased autocovariance / variance, via FFT)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    centred = x - x.mean(axis=-1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=-1)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=-1)[..., :n] / n
    with np.errstate(invalid="ignore", divide="ignore"):
        return acov / acov[..., :1]


def ess(chain: np.ndarray) -> float:
    """Effective sample size of one chain (1-D) by Geyer's initial monotone sequence."""
    x = np.asarray(chain, dtype=np.float64)
    n = len(x)
    if n < 4 or np.ptp(x) <= np.finfo(np.float64).resolution * max(1.0, np.abs(x).max()):
        return float(n)
    rho = autocorrelation(x)
    pairs = rho[: n - n % 2].reshape(-1, 2).sum(axis=1)
    positive = pairs > 0
    stop = len(pairs) if positive.all() else int(np.argmin(positive))  # first non-positive pair
    monotone = np.minimum.accumulate(pairs[:stop])
    tau = -1.0 + 2.0 * monotone.sum()
    return float(n / max(tau, 1.0 / n))


def ess_per_chain(traces: np.ndarray) -> np.ndarray:
    """ESS of each chain of ``traces`` (chains x draws)."""
    return np.array([ess(row) for row in np.asarray(traces)])


def split_rhat(traces: np.ndarray) -> float:
    """Split R-hat of ``traces`` (chains x draws, at least 2 chains and 4 draws)."""
    x = np.asarray(traces, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 4:
        raise ValueError(f"split R-hat needs at least 2 chains of 4 draws, got shape {x.shape}")
    half = x.shape[1] // 2
    halves = np.concatenate([x[:, :half], x[:, -half:]])
    within = halves.var(axis=1, ddof=1).mean()
    between_over_n = halves.mean(axis=1).var(ddof=1)
    if within <= 0:
        return 1.0 if between_over_n <= 0 else float("inf")
    var_plus = (half - 1) / half * within + between_over_n
    return float(np.sqrt(var_plus / within))


def mser_burn_in(trace: np.ndarray) -> int:
    """The MSER truncation point of a 1-D trace (see the module docstring), in [0, len // 2]."""
    x = np.asarray(trace, dtype=np.float64)
    n = len(x)
    if n < 4:
        return 0
    tail_sum = np.cumsum(x[::-1])[::-1]  # sum of x[d:] for every d
    tail_sq = np.cumsum((x * x)[::-1])[::-1]
    d = np.arange(n // 2 + 1)
    rest = n - d
    sse = tail_sq[d] - tail_sum[d] ** 2 / rest
    return int(np.argmin(sse / rest**2))
