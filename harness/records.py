"""Result records: one tidy fact per line of ``results.jsonl``."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Record:
    """One measured number and what produced it (ARCHITECTURE.md, "Run directories and records")."""

    suite: str
    suite_version: str
    model: str
    dataset: str
    eval_set: str
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    seed: int | None = None
    higher_is_better: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("value", "ci_low", "ci_high"):
            if isinstance(d[key], float) and not math.isfinite(d[key]):
                d[key] = None if key != "value" else str(d[key])
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Record:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        value = kwargs.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"record value must be a number, got {value!r}")
        kwargs["value"] = float(value)  # non-finite values are stored as the strings "inf", "-inf", "nan"
        return cls(**kwargs)
