"""``folder:PATH``: recursive discovery, labels from sub-folders, shapes, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.errors import DataError

RNG = np.random.default_rng(0)


def _image(path: Path, size: tuple[int, int], mode: str = "RGB") -> np.ndarray:
    """Write a random image of ``size`` (width, height) and return its pixels (H, W[, C])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels, mode=mode).save(path)
    return pixels


def test_labels_come_from_top_level_subfolders(tmp_path: Path) -> None:
    cat = _image(tmp_path / "cat" / "a.png", (12, 10))
    _image(tmp_path / "dog" / "deep" / "b.PNG", (12, 10))
    _image(tmp_path / "dog" / "c.bmp", (12, 10))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    imageset = load_dataset(f"folder:{tmp_path}", "test")
    x, y = imageset.tensors()
    assert imageset.shape == (3, 10, 12) and x.shape == (3, 3, 10, 12) and imageset.num_classes == 2
    assert y.tolist() == [0, 1, 1]
    assert torch.allclose(x[0], torch.from_numpy(cat.astype(np.float32) / 255).permute(2, 0, 1))


def test_images_at_the_top_level_make_the_set_unlabeled(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg", (8, 8))
    _image(tmp_path / "sub" / "b.webp", (8, 8))
    imageset = load_dataset(f"folder:{tmp_path}", "train")
    assert imageset.tensors()[1].tolist() == [-1, -1] and imageset.num_classes == 0


def test_other_sizes_are_resized_to_the_first_images_shape(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", (6, 4), mode="L")
    _image(tmp_path / "b.png", (20, 30))
    imageset = load_dataset(f"folder:{tmp_path}", "test")
    x, _ = imageset.tensors()
    assert imageset.shape == (1, 4, 6) and x.shape == (2, 1, 4, 6) and x.min() >= 0 and x.max() <= 1


def test_the_context_shape_wins(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", (6, 4), mode="L")
    _image(tmp_path / "b.jpeg", (9, 9))
    imageset = load_dataset(f"folder:{tmp_path}", "test", DataContext(shape=(3, 5, 7)))
    x, _ = imageset.tensors()
    assert imageset.shape == (3, 5, 7) and x.shape == (2, 3, 5, 7)


def test_missing_or_empty_folders_and_no_path_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        load_dataset(f"folder:{tmp_path / 'nope'}", "test")
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=f"no images .* under {tmp_path}"):
        load_dataset(f"folder:{tmp_path}", "test")
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("folder:", "test")


def test_an_unreadable_image_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    _image(tmp_path / "a.png", (4, 4))
    (tmp_path / "b.png").write_bytes(b"not a png")
    imageset = load_dataset(f"folder:{tmp_path}", "test")
    with pytest.raises(DataError, match=r"b\.png"):
        imageset.tensors()
