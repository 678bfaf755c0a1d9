"""Unbounded sizes: a size option whose estimate exceeds the memory limit is refused before anything is
allocated, with one line naming the option, the estimate and the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.limits import human, memory_limit

HUGE = str(10**12)

# (command words, option) - every suite and trainer that takes an image count
CASES = [
    (["run", "energy"], "noise_n"),
    (["run", "energy"], "batch_size"),
    (["run", "ood"], "n"),
    (["run", "ood"], "n_in"),
    (["run", "ood"], "bootstrap"),
    (["run", "ood"], "batch_size"),
    (["run", "quality"], "n"),
    (["run", "quality"], "buffer_size"),
    (["run", "robustness"], "n"),
    (["run", "robustness"], "full_batch_size"),
    (["train", "--kind", "ebm"], "buffer_size"),
    (["train", "--kind", "ebm"], "batch_size"),
    (["train", "--kind", "classifier"], "batch_size"),
]


@pytest.mark.parametrize(("command", "option"), CASES, ids=[f"{c[-1]}-{o}" for c, o in CASES])
def test_hostile_sizes_are_refused_before_allocating(tiny_cond_ebm_path: Path, tmp_path: Path, refused,
                                                     command: list[str], option: str) -> None:
    out = tmp_path / "out"
    target = ["--model", tiny_cond_ebm_path] if command[0] == "run" else []
    line = refused([*command, *target, "--out", out, "--set", f"{option}={HUGE}", "--quiet"],
                   f"{option}={HUGE}", "needs at least", "lower " + option, root=tmp_path)
    assert "limit" in line and not out.exists()


def test_the_limit_can_be_set_and_the_estimate_is_images_times_bytes(dummy_path: Path, tmp_path: Path, refused,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EBMBENCH_MAX_MEMORY", "1M")
    # 5000 noise images of 1x8x8 float32 = 5000 * 256 bytes = 1.22 MB > 1 MB
    refused(["run", "energy", "--model", dummy_path, "--out", tmp_path / "r", "--set", "noise_n=5000"],
            "noise_n=5000", "1.2 MB", "1.0 MB", "EBMBENCH_MAX_MEMORY")
    monkeypatch.setenv("EBMBENCH_MAX_MEMORY", "lots")
    refused(["run", "energy", "--model", dummy_path, "--out", tmp_path / "r"], "EBMBENCH_MAX_MEMORY")


def test_memory_limit_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in (("2G", 2 << 30), ("512MB", 512 << 20), ("1000", 1000), ("1.5k", 1536)):
        monkeypatch.setenv("EBMBENCH_MAX_MEMORY", raw)
        assert memory_limit()[0] == expected
    monkeypatch.delenv("EBMBENCH_MAX_MEMORY")
    assert memory_limit()[0] > 100 << 20
    assert human(256 * 2**40) == "256.0 TB" and human(10) == "10 B"
    with pytest.raises(EbmbenchError):
        monkeypatch.setenv("EBMBENCH_MAX_MEMORY", "G")
        memory_limit()


@pytest.mark.parametrize("kind", ["ebm", "classifier"])
def test_training_sizes_are_checked_again_against_the_real_image_shape(tmp_path: Path, refused, kind: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line can only check sizes against the smallest image (8x8 grey) before the data is found;
    once a trainer has the data, the same options are checked against its real shape (here 3x32x32)."""
    from PIL import Image

    photos = tmp_path / "photos" / "a"
    photos.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (32, 32), (10 * i, 20, 30)).save(photos / f"{i}.png")
    monkeypatch.setenv("EBMBENCH_MAX_MEMORY", "1M")
    # 2000 images: 500 KB at the 8x8 floor (accepted up front), 23.4 MB as 3x32x32 (refused); a small buffer
    buffer = ["--set", "buffer_size=50"] if kind == "ebm" else []
    line = refused(["train", "--kind", kind, "--dataset", f"folder:{photos.parent}", "--out", tmp_path / "m",
                    "--set", "batch_size=2000", *buffer, "--quiet"],
                   "batch_size=2000", "23.4 MB", f"train --kind {kind} on folder:", root=tmp_path)
    assert "lower batch_size" in line and not (tmp_path / "m").exists()
