"""Run directories: ``manifest.json``, ``results.jsonl``, per-sample tables and plots, written atomically.

Work is committed in units (one OOD set, one sampling budget...). Re-running the same command into the same
directory skips finished units, so an interrupted run resumes and never leaves a half-written results file.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ebmbench import __version__
from ebmbench.errors import EbmbenchError
from ebmbench.records import Record

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: Path):
    """A temporary path to write ``path``'s content to; renamed into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def git_revision() -> str:
    """The git commit of the ebmbench source tree, or "unknown" outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunDir:
    """One suite run's directory. ``identity`` is what must match for a re-run to resume rather than clash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.artifacts: set[str] = set()  # files handed out by file(), listed in the manifest at finish

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        if not self.exists():
            raise EbmbenchError(f"{self.path} is not an ebmbench run directory (no {MANIFEST})")
        try:
            return json.loads(self.manifest_path.read_text())
        except json.JSONDecodeError:
            raise EbmbenchError(f"{self.manifest_path} is corrupt; delete the run directory and re-run") from None

    def start(self, identity: dict[str, Any], details: dict[str, Any], overwrite: bool = False) -> bool:
        """Open the run: a new manifest, or resume one whose identity matches. True when resuming."""
        identity = json.loads(json.dumps(identity))
        if self.exists() and not overwrite:
            old = self.manifest()
            if old.get("identity") != identity:
                diff = sorted(k for k in set(identity) | set(old.get("identity", {}))
                              if identity.get(k) != old.get("identity", {}).get(k))
                raise EbmbenchError(f"{self.path} holds a different run ({', '.join(diff)} differ); use another "
                                    "--out or pass --overwrite")
            self._write_manifest({**old, "resumed_at": now(), "status": "running"})
            return True
        import torch  # deferred: reading run directories (reports) should not pay for importing torch

        if overwrite and self.exists():
            self._remove_previous_run()
        manifest = {"identity": identity, "ebmbench_version": __version__, "git_revision": git_revision(),
                    "torch_version": torch.__version__, "python": platform.python_version(),
                    "platform": platform.platform(), "started_at": now(), "status": "running", **details}
        self._write_manifest(manifest)
        return False

    def finish(self, status: str = "complete", **details: Any) -> None:
        manifest = self.manifest()
        artifacts = sorted(set(manifest.get("artifacts", [])) | self.artifacts)
        self._write_manifest({**manifest, "finished_at": now(), "status": status, "artifacts": artifacts,
                              **details})

    def _remove_previous_run(self) -> None:
        """What an earlier run wrote here (its results and the artifacts its manifest lists), so that none of
        it passes for the new run's; anything else in the directory is the user's and stays."""
        try:
            listed = self.manifest().get("artifacts", [])
        except EbmbenchError:  # a corrupt manifest lists nothing we can trust
            listed = []
        for name in [RESULTS, *listed]:
            path = self.path / name
            if path.is_file() and path.resolve().is_relative_to(self.path.resolve()):
                path.unlink()

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")

    def records(self) -> list[Record]:
        """Every record committed so far."""
        if not self.results_path.exists():
            return []
        lines = self.results_path.read_text().splitlines()
        try:
            return [Record.from_json(json.loads(line)) for line in lines if line.strip()]
        except (json.JSONDecodeError, TypeError, ValueError, KeyError) as exc:
            raise EbmbenchError(f"{self.results_path} is corrupt ({exc}); re-run with --overwrite") from None

    def done_units(self) -> set[str]:
        return {r.extra["unit"] for r in self.records() if "unit" in r.extra}

    def commit(self, unit: str, records: Iterable[Record]) -> None:
        """Append a finished unit's records in one atomic rewrite (a unit is never half-committed)."""
        kept = [r for r in self.records() if r.extra.get("unit") != unit]
        new = [Record(**{**r.__dict__, "extra": {**r.extra, "unit": unit}}) for r in records]
        text = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in kept + new)
        atomic_write_text(self.results_path, text)

    def file(self, name: str) -> Path:
        """Path of an artifact (plot, table) inside the run directory."""
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.artifacts.add(Path(name).as_posix())
        return path
