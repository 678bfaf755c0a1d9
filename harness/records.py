"""Result records: one tidy fact per line of ``results.jsonl``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ebmbench.numbers import finite_or_none, json_number


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
        d["value"] = json_number(d["value"])  # non-finite as "nan"/"inf", read back by from_json
        d["ci_low"], d["ci_high"] = finite_or_none(d["ci_low"]), finite_or_none(d["ci_high"])
        return d

    @classmethod
    def from_json(cls, d: Any) -> Record:
        """A record from one parsed line; ValueError naming the first field of the wrong type (a results line
        written by hand or damaged must never become a number that passes for a measurement)."""
        if not isinstance(d, dict):
            raise ValueError(f"a record must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        value = kwargs.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"record value must be a number, got {value!r}")
        try:
            kwargs["value"] = float(value)  # non-finite values are stored as the strings "inf", "-inf", "nan"
        except ValueError:
            raise ValueError(f"record value must be a number, got {value!r}") from None
        for name, kinds in _FIELD_TYPES.items():
            if name in kwargs and not _is(kwargs[name], kinds):
                raise ValueError(f"record field {name!r} must be {_KIND_NAMES[kinds]}, got {kwargs[name]!r:.60}")
        if missing := [f.name for f in fields(cls) if f.name not in kwargs and f.name in _REQUIRED]:
            raise ValueError(f"record lacks {', '.join(missing)}")
        return cls(**kwargs)


_TEXT, _NUMBER, _INT, _BOOL, _MAP = "text", "number", "int", "bool", "map"
_REQUIRED = ("suite", "suite_version", "model", "dataset", "eval_set", "metric", "value")
_FIELD_TYPES: dict[str, tuple[str, ...]] = {
    **{name: (_TEXT,) for name in ("suite", "suite_version", "model", "dataset", "eval_set", "metric")},
    "ci_low": (_NUMBER,), "ci_high": (_NUMBER,), "n": (_INT,), "seed": (_INT,), "higher_is_better": (_BOOL,),
    "extra": (_MAP,)}
_KIND_NAMES = {(_TEXT,): "a string", (_NUMBER,): "a number or null", (_INT,): "an integer or null",
               (_BOOL,): "true, false or null", (_MAP,): "a JSON object"}


def _is(value: Any, kinds: tuple[str, ...]) -> bool:
    """Whether a parsed JSON value has one of the record field kinds (null allowed except for text and map)."""
    kind = kinds[0]
    if kind == _TEXT:
        return isinstance(value, str)
    if kind == _MAP:
        return isinstance(value, dict)
    if value is None:
        return True
    if kind == _BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if kind == _INT else isinstance(value, (int, float))
