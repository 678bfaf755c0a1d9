"""Options as frozen dataclasses, filled from ``--set key=value`` pairs: unknown keys and bad values are
one-line errors with the closest valid key, never silently ignored."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ebmbench.errors import EbmbenchError
from ebmbench.suggest import did_you_mean

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


def option(default: Any = dataclasses.MISSING, *, help: str, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its help text (shown by ``ebmbench list`` and ``--help``); ``factory`` for a
    mutable or nested default such as an options group."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help})


def is_group(hint: Any) -> bool:
    """Whether a field's annotation is a nested options group (a dataclass), set as ``group.key=value``."""
    return dataclasses.is_dataclass(hint) and isinstance(hint, type)


def build_options(cls: type[T], values: Mapping[str, Any] | Iterable[str] = (), **defaults: Any) -> T:
    """An instance of the dataclass ``cls`` from strings or typed values; rejects unknown keys. A field that is
    itself an options dataclass (a group, e.g. ``sampler``) is set key by key as ``sampler.step_size=1``, or
    as a whole from a mapping or an instance; its unset keys keep the field's default."""
    if not isinstance(values, Mapping):
        values = parse_pairs(values)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {k: v for k, v in defaults.items() if k in names}
    kwargs.update(_preset(cls, values, hints))
    groups: dict[str, dict[str, Any]] = {}
    for key, raw in values.items():
        name, dot, sub = key.partition(".")
        if name not in names or (dot and not is_group(hints[name])):
            _refuse_unknown(cls, key, all_keys(cls))
        if is_group(hints[name]):
            groups.setdefault(name, {}).update(_group_values(cls, name, raw, hints[name]) if not dot else {sub: raw})
        else:
            kwargs[key] = convert(raw, hints[key], key)
    for name, sub_values in groups.items():
        kwargs[name] = _build_group(cls, name, hints[name], sub_values)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise EbmbenchError(f"invalid options for {owner(cls)}: {exc}") from None


def _preset(cls: type, values: Mapping[str, Any], hints: dict[str, Any]) -> dict[str, Any]:
    """The defaults a preset option chooses (``PRESET_KEY``, e.g. ``budget=cpu``, looked up in ``PRESETS``):
    options the user sets themselves still win."""
    key = getattr(cls, "PRESET_KEY", None)
    if key is None or key not in values:
        return {}
    presets: dict[str, dict[str, Any]] = cls.PRESETS  # type: ignore[attr-defined]
    name = str(values[key])
    if name not in presets:
        raise EbmbenchError(f"{key}={name} is not a preset of {owner(cls)}; choose from {', '.join(presets)}")
    return {k: convert(v, hints[k], k) for k, v in presets[name].items()}


def _group_values(cls: type, name: str, raw: Any, group: type) -> dict[str, Any]:
    """A whole group given at once: an instance or a mapping (a bare string is a mistake: say how to set it)."""
    if isinstance(raw, group):
        return {f.name: getattr(raw, f.name) for f in dataclasses.fields(group)}
    if isinstance(raw, Mapping):
        return dict(raw)
    keys = ", ".join(f"{name}.{f.name}" for f in dataclasses.fields(group))
    raise EbmbenchError(f"option {name!r} of {owner(cls)} is a group; set its keys one by one ({keys})")


def _build_group(cls: type, name: str, group: type, values: dict[str, Any]) -> Any:
    """The group's default for this field, with ``values`` applied (keys checked, with suggestions)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)  # type: ignore[arg-type]
    base = _default(field)
    unknown = [k for k in values if k not in {f.name for f in dataclasses.fields(group)}]
    if unknown:
        _refuse_unknown(cls, f"{name}.{unknown[0]}", all_keys(cls))
    current = {f.name: getattr(base, f.name) for f in dataclasses.fields(group)} if base is not None else {}
    hints = typing.get_type_hints(group)
    current.update({k: convert(v, hints[k], f"{name}.{k}") for k, v in values.items()})
    try:
        return group(**current)
    except (TypeError, ValueError) as exc:
        raise EbmbenchError(f"invalid options for {owner(cls)}: {name}: {exc}") from None


def all_keys(cls: type) -> list[str]:
    """Every settable key of an options class, groups spelled out (``sampler.step_size``)."""
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if is_group(hints[f.name]):
            keys += [f"{f.name}.{sub}" for sub in all_keys(hints[f.name])]
        else:
            keys.append(f.name)
    return keys


def _refuse_unknown(cls: type, key: str, valid: list[str]) -> None:
    hint = did_you_mean(key, valid)
    raise EbmbenchError(f"unknown option {key!r} for {owner(cls)}{hint} (valid: {', '.join(valid)})")


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


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


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """``(key, type, default, help)`` for each option, groups spelled out as ``group.key``, for listings."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint, default = hints[f.name], _default(f)
        if is_group(hint):
            out += [(f"{f.name}.{key}", kind, getattr(default, key.split(".")[-1]) if default is not None else d,
                     text) for key, kind, d, text in describe(hint)]
            continue
        out.append((f.name, getattr(hint, "__name__", str(hint)), default, f.metadata.get("help", "")))
    return out
