"""Numbers that must survive JSON and pandas: NaN means "missing" and becomes None, in one place for records,
reports and compare."""

from __future__ import annotations

import math
from typing import Any


def is_nan(value: Any) -> bool:
    """True for a float NaN (pandas' missing value), False for anything else, None included."""
    return isinstance(value, float) and math.isnan(value)


def none_if_nan(value: Any) -> Any:
    """``value``, with a float NaN as None (a missing cell must equal other missing cells when grouping)."""
    return None if is_nan(value) else value


def finite_or_none(value: float | None) -> float | None:
    """``value`` if it is a finite number, else None (for JSON, which has no NaN or infinity)."""
    return value if value is not None and math.isfinite(value) else None


def json_number(value: float) -> float | str:
    """A float for JSON: finite as it is, non-finite as the string ``"nan"``, ``"inf"`` or ``"-inf"``."""
    return value if math.isfinite(value) else str(value)
