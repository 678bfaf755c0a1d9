"""Options as frozen dataclasses, filled from ``--set key=value`` pairs: unknown keys and bad values are
one-line errors with the closest valid key, never silently ignored."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ebmbench.errors import EbmbenchError

T = TypeVar("T")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EbmbenchError(f"--set expects key=value, got {pair!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def build_options(cls: type[T], values: Mapping[str, Any] | Iterable[str] = (), **defaults: Any) -> T:
    """An instance of the dataclass ``cls`` from strings or typed values; rejects unknown keys."""
    if not isinstance(values, Mapping):
        values = parse_pairs(values)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {k: v for k, v in defaults.items() if k in names}
    for key, raw in values.items():
        if key not in names:
            close = closest(key, names)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise EbmbenchError(f"unknown option {key!r} for {owner(cls)}{hint} (valid: {', '.join(names)})")
        kwargs[key] = convert(raw, hints[key], key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise EbmbenchError(f"invalid options for {owner(cls)}: {exc}") from None


def closest(word: str, options: Iterable[str]) -> list[str]:
    """The likeliest intended option for a misspelt ``word``: fewest single-character edits first (so ``nn``
    means ``n``, not ``n_in``), then difflib's similarity; empty when nothing is close."""
    options = list(options)
    similar = difflib.get_close_matches(word, options, n=len(options), cutoff=0.6)
    near = sorted((o for o in options if _edits(word, o) <= max(1, len(word) // 3)), key=lambda o: _edits(word, o))
    return list(dict.fromkeys(near + similar))[:1]


def _edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def owner(cls: type) -> str:
    """Who an options class belongs to, as a user names it: ``suite ood``, ``train --kind ebm``."""
    parts = cls.__module__.split(".")
    if "training" in parts[:-1]:
        return f"`train --kind {parts[-1]}`"
    if "suites" in parts[:-1]:
        return f"suite {parts[parts.index('suites') + 1]}"
    return cls.__name__


def check_ranges(obj: Any, at_least_one: Iterable[str] = (), positive: Iterable[str] = (),
                 non_negative: Iterable[str] = ()) -> None:
    """Refuse out-of-range numeric options (None means "default" and passes) with one ValueError naming each
    bad option and its value; meant for an options dataclass's ``__post_init__``."""
    rules = [(at_least_one, lambda v: v >= 1, ">= 1"), (positive, lambda v: v > 0, "> 0"),
             (non_negative, lambda v: v >= 0, ">= 0")]
    bad = [f"{name}={getattr(obj, name)} (must be {text})" for names, ok, text in rules for name in names
           if getattr(obj, name) is not None and not ok(getattr(obj, name))]
    if bad:
        raise ValueError("; ".join(bad))


def convert(raw: Any, hint: Any, key: str) -> Any:
    """Convert a string (or pass through a typed value) to the annotated type."""
    if not isinstance(raw, str):
        return tuple(raw) if isinstance(raw, list) else raw
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() in {"none", "null", ""} and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return convert(raw, inner[0], key)
    if origin is tuple:
        item = args[0] if args else str
        parts = [p for p in raw.split(",") if p.strip()]
        return tuple(convert(p.strip(), item, key) for p in parts)
    if origin is typing.Literal:
        if raw not in args:
            raise EbmbenchError(f"option {key!r} must be one of {', '.join(map(str, args))}, not {raw!r}")
        return raw
    try:
        if hint is bool:
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.lower() in _TRUE
        return hint(raw) if hint in (int, float, str) else raw
    except ValueError:
        name = getattr(hint, "__name__", str(hint))
        raise EbmbenchError(f"option {key!r} expects {name}, got {raw!r}") from None


def describe(cls: type) -> list[tuple[str, str, Any]]:
    """``(name, type, default)`` for each option, for ``--help``-style listings."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        out.append((f.name, getattr(hints[f.name], "__name__", str(hints[f.name])), default))
    return out
