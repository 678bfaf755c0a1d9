"""Read run directories into one tidy DataFrame (one row per record) without recomputing anything.

A path may be a run directory (it holds ``manifest.json``) or a folder of run directories (searched
recursively), so ``ebmbench report runs/`` covers everything a quickstart wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ebmbench.errors import EbmbenchError
from ebmbench.records import Record
from ebmbench.reports.meta import direction, meta
from ebmbench.rundir import MANIFEST, RESULTS, RunDir

RECORD_COLUMNS: tuple[str, ...] = ("suite", "suite_version", "model", "dataset", "eval_set", "metric", "value",
                                   "ci_low", "ci_high", "n", "seed", "higher_is_better")


def columns() -> tuple[str, ...]:
    """The frame's columns: run, record fields, one per qualifier the suites declare, and ``extra``."""
    return ("run", "main_model", "options", *RECORD_COLUMNS, *meta(), "extra")


@dataclass
class RunSet:
    """The records of some run directories (``frame``) and each run's manifest, keyed by run label."""

    frame: pd.DataFrame
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    def incomplete(self) -> dict[str, str]:
        """Runs whose manifest does not say ``complete``: their numbers may be partial."""
        return {run: str(m.get("status", "unknown")) for run, m in self.manifests.items()
                if m.get("status") != "complete"}


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Every run directory named by ``paths`` (each a run directory or a folder holding some), in order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise EbmbenchError(f"{path} does not exist")
        if (path / MANIFEST).is_file():
            found.append(path)
            continue
        nested = sorted(p.parent for p in path.rglob(MANIFEST) if _looks_like_run(p.parent))
        if not nested:
            raise EbmbenchError(f"{path} is not a run directory and holds none (no {MANIFEST} with results)")
        found.extend(nested)
    return _unique(found)


def load_runs(paths: list[str | Path]) -> RunSet:
    """Load the records of every run directory under ``paths``; errors name the file that is wrong."""
    frames, manifests = [], {}
    for path in find_run_dirs(paths):
        label = str(path)
        manifest = checked_manifest(path, RunDir(path).manifest())
        manifests[label] = manifest
        frames.append(_frame(label, manifest, _records(path)))
    frame = pd.concat(frames, ignore_index=True) if frames else _empty()
    for name in ("value", "ci_low", "ci_high"):
        frame[name] = pd.to_numeric(frame[name]).astype(float)
    if frame.empty:
        raise EbmbenchError(f"no results in {', '.join(str(p) for p in paths)} (empty {RESULTS})")
    return RunSet(frame=frame, manifests=manifests)


MANIFEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "identity": dict, "status": str, "model": str, "artifacts": list, "ebmbench_version": str,
    "git_revision": str, "device": str}


def checked_manifest(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest, refused (one line naming the field) when a field reports read has the wrong type: a
    hand-edited or foreign manifest must not crash a report or pass for a finished run."""
    for name, kind in MANIFEST_FIELDS.items():
        if name in manifest and not isinstance(manifest[name], kind):
            raise EbmbenchError(f"{path / MANIFEST} is corrupt (field {name!r} is "
                                f"{type(manifest[name]).__name__}, not {getattr(kind, '__name__', kind)})")
    identity = manifest.get("identity", {})
    if "options" in identity and not isinstance(identity["options"], dict):
        raise EbmbenchError(f"{path / MANIFEST} is corrupt (identity.options is not a JSON object)")
    return manifest


def _records(path: Path) -> list[Record]:
    try:
        records = RunDir(path).records()
    except (ValueError, TypeError) as exc:
        raise EbmbenchError(f"{path / RESULTS} is corrupt ({exc})") from None
    for i, rec in enumerate(records, 1):
        if not isinstance(rec.value, (int, float)) or not isinstance(rec.metric, str):
            raise EbmbenchError(f"{path / RESULTS} is corrupt (record {i} has value {rec.value!r})")
    return records


def _frame(label: str, manifest: dict[str, Any], records: list[Record]) -> pd.DataFrame:
    identity = manifest.get("identity", {}) if isinstance(manifest.get("identity"), dict) else {}
    options = json.dumps(identity.get("options", {}), sort_keys=True, default=str)
    keys = meta()
    rows = [_row(label, str(manifest.get("model", "")), options, rec, keys) for rec in records]
    return pd.DataFrame(rows, columns=list(columns()), dtype=object) if rows else _empty()


def _row(label: str, main_model: str, options: str, rec: Record, keys: tuple[str, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {"run": label, "main_model": main_model, "options": options}
    row.update({name: getattr(rec, name) for name in RECORD_COLUMNS})
    row["value"] = float(rec.value)
    row["higher_is_better"] = direction(rec.suite, rec.metric, rec.higher_is_better)
    extra = rec.extra if isinstance(rec.extra, dict) else {}
    row.update({key: _hashable(extra.get(key)) for key in keys})
    row["extra"] = extra
    return row


def _hashable(value: Any) -> Any:
    """Metadata must serve as a grouping key: lists become tuples, mappings their JSON text."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns()), dtype=object)


def _looks_like_run(path: Path) -> bool:
    if (path / RESULTS).is_file():
        return True
    try:
        return "identity" in json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError, TypeError):
        return False


def _unique(paths: list[Path]) -> list[Path]:
    seen, out = set(), []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out
