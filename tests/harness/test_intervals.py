import math

import numpy as np
import pytest
from scipy import stats

from ebmbench.intervals import t_interval, wilson


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 80), (1, 80), (40, 80), (80, 80), (3, 7), (999, 1000)])
def test_wilson_equals_scipy(k: int, n: int) -> None:
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_wilson_of_nothing_is_undefined() -> None:
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_t_interval_equals_scipy() -> None:
    fids = [15.43, 16.10, 15.99, 16.44, 15.25]
    mean, low, high = t_interval(fids)
    ref = stats.t.interval(0.95, 4, loc=np.mean(fids), scale=stats.sem(fids))
    assert mean == pytest.approx(np.mean(fids)) and (low, high) == pytest.approx(ref)
    assert t_interval([2.0]) == (2.0, 2.0, 2.0) and t_interval([1.0, 1.0]) == (1.0, 1.0, 1.0)
