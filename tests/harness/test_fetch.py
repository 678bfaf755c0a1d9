"""Weights on request: fetched once from a URL only with --download, checked against their SHA-256 before they
are cached; a wrong hash is refused and leaves nothing behind. A real HTTP server on 127.0.0.1 serves the file."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ebmbench.errors import EbmbenchError
from ebmbench.extractors.inception import InceptionExtractor
from ebmbench.fetch import Remote, cached, fetch


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(base URL, folder it serves, the paths requested so far)."""
    root = tmp_path / "served"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetches_once_checks_the_hash_and_caches(server, tmp_path: Path) -> None:
    url, root, requests = server
    payload = b"weights " * 1000
    (root / "w.bin").write_bytes(payload)
    remote = Remote(f"{url}/w.bin", hashlib.sha256(payload).hexdigest(), "w.bin", "test weights")
    cache = tmp_path / "cache"
    path = fetch(remote, cache, download=True, progress=False)
    assert path == cached(remote, cache) and path.read_bytes() == payload
    assert fetch(remote, cache, download=False, progress=False) == path  # from the cache, no second request
    assert requests == ["/w.bin"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["w.bin"]  # no temporary file left


def test_a_wrong_hash_is_refused_and_nothing_is_cached(server, tmp_path: Path) -> None:
    url, root, _ = server
    (root / "w.bin").write_bytes(b"tampered")
    remote = Remote(f"{url}/w.bin", hashlib.sha256(b"the real thing").hexdigest(), "w.bin", "test weights")
    with pytest.raises(EbmbenchError, match=r"has SHA-256 [0-9a-f]{64}, expected .*refused, nothing cached"):
        fetch(remote, tmp_path / "cache", download=True, progress=False)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_without_download_the_error_says_to_add_it(tmp_path: Path) -> None:
    remote = Remote("http://127.0.0.1:9/never", "0" * 64, "w.bin", "test weights")
    with pytest.raises(EbmbenchError, match=r"not found; add --download to fetch it once from http://127\.0\.0\.1:9"):
        fetch(remote, tmp_path, download=False)


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    remote = Remote("http://127.0.0.1:9/never", "0" * 64, "w.bin", "test weights")
    with pytest.raises(EbmbenchError, match=r"cannot download test weights from http://127\.0\.0\.1:9/never"):
        fetch(remote, tmp_path, download=True, progress=False, timeout=5)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_inception_extractor_fetches_its_weights_with_download(server, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url, root, requests = server
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.save({"fc.weight": torch.zeros(1)}, root / "inception.pth")
    digest = hashlib.sha256((root / "inception.pth").read_bytes()).hexdigest()
    monkeypatch.setattr(InceptionExtractor, "remote", Remote(f"{url}/inception.pth", digest, "inception.pth",
                                                             "torch-fidelity's Inception weights"))
    cache = tmp_path / "cache"
    with pytest.raises(EbmbenchError, match="add --download"):
        InceptionExtractor(cache_dir=cache).weights_path()
    assert requests == []
    path = InceptionExtractor(download=True, cache_dir=cache).weights_path()
    assert path == cache / "weights" / "inception.pth" and requests == ["/inception.pth"]
    assert InceptionExtractor(cache_dir=cache).weights_path() == path and requests == ["/inception.pth"]


def test_the_shipped_remote_is_torch_fidelitys() -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    remote = InceptionExtractor.remote
    assert remote.url == URL_INCEPTION_V3
    assert len(remote.sha256) == 64 and remote.filename.split("-")[-1].startswith(remote.sha256[:8])
