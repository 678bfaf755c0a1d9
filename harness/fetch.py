"""Files fetched on request only: a known URL, its SHA-256, and a cache that never holds an unchecked byte.

Nothing is downloaded unless the user passed ``--download``; without it, a missing file is a one-line error that
says to add it. A download streams into a temporary file beside the cache entry, is hashed on the way, and is
renamed into place only when its SHA-256 is the expected one; a mismatch leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ebmbench.atomic import atomic_path
from ebmbench.errors import EbmbenchError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """A file that may be fetched: where from, what it must hash to, and the name it is cached under."""

    url: str
    sha256: str
    filename: str
    what: str  # for messages, e.g. "torch-fidelity's Inception weights"
    size: int | None = None  # bytes, for the progress bar


def cached(remote: Remote, cache_dir: Path) -> Path:
    """Where ``remote`` lives in the cache (``cache_dir/weights/FILENAME``)."""
    return Path(cache_dir) / "weights" / remote.filename


def fetch(remote: Remote, cache_dir: Path, download: bool, progress: bool = True, timeout: float = 60.0) -> Path:
    """The cached file of ``remote``, downloaded first when ``download`` allows it; its SHA-256 is checked
    every time it is fetched and before it is cached."""
    path = cached(remote, cache_dir)
    if path.is_file():
        if _sha256(path) == remote.sha256:
            return path
        if not download:
            raise EbmbenchError(f"the cached {remote.what} at {path} does not have SHA-256 {remote.sha256}; add "
                                "--download to fetch it again")
    if not download:
        raise EbmbenchError(f"{remote.what} ({remote.filename}) not found; add --download to fetch it once from "
                            f"{remote.url} (SHA-256 checked, cached at {path})")
    with atomic_path(path) as tmp:  # renamed into place only once the hash is right
        with open(tmp, "wb") as out:
            digest = _download(remote, out, progress, timeout)
        if digest != remote.sha256:
            raise EbmbenchError(f"{remote.what} from {remote.url} has SHA-256 {digest}, expected {remote.sha256}; "
                                "refused, nothing cached")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(remote: Remote, out, progress: bool, timeout: float) -> str:
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or remote.size or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=remote.filename, disable=not progress,
                      leave=False) as bar:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EbmbenchError(f"cannot download {remote.what} from {remote.url} ({reason}); check the network, or "
                            "fetch the file yourself and pass its path") from None
    return digest.hexdigest()
