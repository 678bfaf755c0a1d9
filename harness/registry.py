"""One registry primitive for suites, datasets, models and trainers.

Entries are either objects or lazy ``"module:attr"`` strings resolved on first use, so listing what exists
never imports heavy code. Other packages add entries through the entry-point group named by the registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from ebmbench.errors import EbmbenchError
from ebmbench.suggest import did_you_mean

T = TypeVar("T")


class UnknownNameError(EbmbenchError):
    """A name that is not registered; the message offers the closest names."""


class Registry(Generic[T]):
    """Named entries of one kind, with lazy imports, duplicate checks and entry-point discovery."""

    def __init__(self, kind: str, entry_point_group: str | None = None, base: type | None = None,
                 discover: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.group = entry_point_group
        self.base = base
        self.discover = discover  # registers built-in entries found on first use (e.g. the suite packages)
        self._entries: dict[str, Any] = {}
        self._entry_points_loaded = False

    def register(self, name: str, obj: T | str | None = None, *, replace: bool = False) -> Any:
        """Register ``obj`` (or a ``"module:attr"`` string) under ``name``; usable as a decorator."""
        if obj is None:
            def decorator(target: T) -> T:
                self.register(name, target, replace=replace)
                return target

            return decorator
        if name in self._entries and not replace and self._entries[name] is not obj:
            raise EbmbenchError(f"{self.kind} {name!r} is already registered; pick another name")
        self._entries[name] = obj
        return obj

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        if self.discover is not None:
            self.discover()
        if self.group is None:
            return
        for ep in entry_points(group=self.group):
            if ep.name not in self._entries:
                self._entries[ep.name] = ep.value

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry for ``name``, importing it if lazy; unknown names get a "did you mean" error."""
        self._load_entry_points()
        if name not in self._entries:
            hint = did_you_mean(name, self._entries, n=3, cutoff=0.5)
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = _import_string(entry, self.kind, name)
            self._entries[name] = entry
        if self.base is not None and isinstance(entry, type) and not issubclass(entry, self.base):
            raise EbmbenchError(f"{self.kind} {name!r} is not a subclass of {self.base.__name__}")
        return entry


def _import_string(path: str, kind: str, name: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError) as exc:
        raise EbmbenchError(f"{kind} {name!r} points to {path!r}, which cannot be imported: {exc}") from exc
