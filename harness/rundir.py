"""Run directories: ``manifest.json``, ``results.jsonl``, per-sample tables and plots, written atomically.

Work is committed in units (one OOD set, one sampling budget...). Re-running the same command into the same
directory skips finished units, so an interrupted run resumes and never leaves a half-written results file.
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ebmbench import __version__
from ebmbench.atomic import atomic_write_text
from ebmbench.errors import EbmbenchError
from ebmbench.records import Record

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
LOCK = ".ebmbench.lock"


MAX_JSON_BYTES = 256 * 1024 * 1024  # a manifest or results file beyond this is not one ebmbench wrote


def read_text(path: Path, what: str) -> str:
    """A run directory's text file, strictly UTF-8; any problem is one EbmbenchError naming the file."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise EbmbenchError(f"{path} is too large for a {what} file ({path.stat().st_size} bytes)")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EbmbenchError(f"{path} is corrupt (not UTF-8 text at byte {exc.start})") from None
    except OSError as exc:
        raise EbmbenchError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_json(path: Path, what: str) -> Any:
    """A run directory's JSON file, parsed; damage is one EbmbenchError naming the file."""
    try:
        return json.loads(read_text(path, what))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EbmbenchError(f"{path} is corrupt (not JSON: {getattr(exc, 'msg', 'nested too deeply')})") from None


def _parse_record(path: Path, number: int, line: str, last: bool) -> Record:
    """One results line as a record; errors give the line number in the file, and a damaged last line
    without its newline is called truncated (an interrupted copy, not an ebmbench write)."""
    try:
        return Record.from_json(json.loads(line))
    except (json.JSONDecodeError, RecursionError) as exc:
        kind = "truncated" if last else "damaged"
        raise EbmbenchError(f"{path} is corrupt ({kind} results line {number}: "
                            f"{getattr(exc, 'msg', 'nested too deeply')})") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise EbmbenchError(f"{path} is corrupt (results line {number}: {exc})") from None


def safe_file_name(text: str, keep: str = "-_.@") -> str:
    """``text`` as one file name: letters, digits and ``keep`` stay, anything else (separators included)
    becomes ``_``."""
    return "".join(c if c.isalnum() or c in keep else "_" for c in text)


def per_example_file(unit: str) -> str:
    """Where a suite keeps a unit's per-example outcomes, relative to the run directory (the records name it as
    ``extra.per_example_file``; ``compare`` tests on it)."""
    return f"per_example/{safe_file_name(unit)}.npz"


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
        manifest = read_json(self.manifest_path, "manifest")
        if not isinstance(manifest, dict):
            raise EbmbenchError(f"{self.manifest_path} is corrupt (not a JSON object); re-run into a new --out")
        return manifest

    def start(self, identity: dict[str, Any], details: dict[str, Any], overwrite: bool = False) -> bool:
        """Open the run: a new manifest, or resume one whose identity matches. True when resuming.

        Refused when the folder is not a new or empty folder or an ebmbench run directory: the user's own
        files are never written over or deleted, with or without ``--overwrite``."""
        self.check_target()
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

    def check_target(self) -> None:
        """Refuse a path that is not a folder, a folder holding files without an ebmbench manifest, or one whose
        manifest ebmbench did not write: none of them is offered ``--overwrite``, which would delete the
        user's files."""
        if self.path.exists() and not self.path.is_dir():
            raise EbmbenchError(f"{self.path} exists and is not a folder; choose another --out")
        if not self.path.is_dir():
            return
        if not self.manifest_path.exists():
            foreign = sorted(p.name for p in self.path.iterdir() if not _own_scratch(p.name))
            if foreign:
                raise EbmbenchError(f"{self.path} is not empty and is not an ebmbench run directory (no {MANIFEST}; "
                                    f"it holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}); "
                                    "choose a new or empty folder for --out")
            return
        try:
            manifest = self.manifest()
        except EbmbenchError as exc:
            raise EbmbenchError(f"{exc}; ebmbench will not write into a folder whose manifest it cannot read: "
                                "choose another --out, or move this folder away") from None
        if not isinstance(manifest.get("identity"), dict) or "ebmbench_version" not in manifest:
            raise EbmbenchError(f"{self.manifest_path} was not written by ebmbench; choose a new or empty folder "
                                "for --out")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run directory's lock: a second writer (another run, or an --overwrite) is refused at once
        with one line instead of mixing two runs' results under one manifest."""
        from filelock import FileLock, Timeout

        self.check_target()  # before creating anything in a folder that may be the user's
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise EbmbenchError(f"{self.path} is in use by another ebmbench run; wait for it to finish or choose "
                                "another --out") from None
        try:
            yield
        finally:
            lock.release()

    def finish(self, status: str = "complete", **details: Any) -> None:
        manifest = self.manifest()
        artifacts = sorted(set(manifest.get("artifacts", [])) | self.artifacts)
        self._write_manifest({**manifest, "finished_at": now(), "status": status, "artifacts": artifacts,
                              **details})

    def _remove_previous_run(self) -> None:
        """What an earlier run wrote here (its results and the artifacts its manifest lists, which it records as
        it creates them, so a killed run's plots go too), so that none of it passes for the new run's; anything
        else in the directory is the user's and stays. Links are never followed."""
        listed = self.manifest().get("artifacts", [])
        root = self.path.resolve()
        for name in [RESULTS, *(n for n in listed if isinstance(n, str))]:
            path = self.path / name
            if not path.is_symlink() and path.is_file() and path.resolve().is_relative_to(root):
                path.unlink()

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")

    def records(self) -> list[Record]:
        """Every record committed so far; a damaged line is one error naming its real line number."""
        if not self.results_path.exists():
            return []
        text = read_text(self.results_path, "results")
        lines = text.split("\n")
        records = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                records.append(_parse_record(self.results_path, number, line, last=number == len(lines)))
        return records

    def done_units(self) -> set[str]:
        return {r.extra["unit"] for r in self.records() if "unit" in r.extra}

    def commit(self, unit: str, records: Iterable[Record]) -> None:
        """Append a finished unit's records in one atomic rewrite (a unit is never half-committed)."""
        kept = [r for r in self.records() if r.extra.get("unit") != unit]
        new = [Record(**{**r.__dict__, "extra": {**r.extra, "unit": unit}}) for r in records]
        text = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in kept + new)
        atomic_write_text(self.results_path, text)

    def file(self, name: str) -> Path:
        """Path of an artifact (plot, table) inside the run directory; listed in the manifest at once, so that
        ``--overwrite`` after a killed run still knows it is ebmbench's."""
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise EbmbenchError(f"artifact name {name!r} would leave the run directory {self.path}")
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        key = relative.as_posix()
        if key not in self.artifacts:
            self.artifacts.add(key)
            self._list_artifact(key)
        return path

    def _list_artifact(self, key: str) -> None:
        if not self.exists():
            return
        manifest = self.manifest()
        listed = manifest.get("artifacts", [])
        if key not in listed:
            self._write_manifest({**manifest, "artifacts": sorted({*listed, key})})


def _own_scratch(name: str) -> bool:
    """Files ebmbench itself leaves in a run directory that holds no manifest yet: the lock, a killed write's
    temporary file."""
    return name == LOCK or name.startswith(tuple(f".{Path(n).stem}.tmp-" for n in (MANIFEST, RESULTS)))
