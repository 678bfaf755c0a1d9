"""Every PIL image mode read into [0, 1] correctly, checked against pixel values computed by hand; images that
are too large or out of range are one-line refusals (no DecompressionBombError traceback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ebmbench.data.base import load_dataset
from ebmbench.data.folder import MAX_PIXELS, _RangeError, to_unit_float
from ebmbench.errors import DataError


def _read(tmp_path: Path, im: Image.Image, name: str = "a.png") -> np.ndarray:
    """The folder dataset's tensor for one image, as (C, H, W) numpy."""
    im.save(tmp_path / name)
    x, _ = load_dataset(f"folder:{tmp_path}", "test").tensors()
    return x[0].numpy()


def _palette() -> Image.Image:
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)  # index 0 red, index 1 blue
    im.putdata([0, 1])
    return im


# (mode, image, file name, expected (C, H, W) pixel values computed by hand)
CASES = [
    ("1", Image.frombytes("1", (2, 1), bytes([0b10000000])), "a.png", [[[1.0, 0.0]]]),
    ("L", Image.fromarray(np.array([[0, 51, 255]], np.uint8)), "a.png", [[[0.0, 0.2, 1.0]]]),
    ("I;16", Image.fromarray(np.array([[0, 1000, 32768, 65535]], np.uint16)), "a.png",
     [[[0.0, 1000 / 65535, 32768 / 65535, 1.0]]]),
    ("LA", Image.fromarray(np.array([[[10, 0], [200, 255]]], np.uint8), "LA"), "a.png", [[[10 / 255, 200 / 255]]]),
    ("P", _palette(), "a.png", [[[1.0, 0.0]], [[0.0, 0.0]], [[0.0, 1.0]]]),
    ("RGB", Image.fromarray(np.array([[[255, 128, 0]]], np.uint8)), "a.png", [[[1.0]], [[128 / 255]], [[0.0]]]),
    ("RGBA", Image.fromarray(np.array([[[255, 128, 0, 0]]], np.uint8), "RGBA"), "a.png",
     [[[1.0]], [[128 / 255]], [[0.0]]]),
    # CMYK: C, M, Y, K = 0 is white; pure cyan (C=255) has no red; full black ink (K=255) is black
    ("CMYK", Image.frombytes("CMYK", (3, 1), bytes([0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255])), "a.jpg",
     [[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]], [[1.0, 1.0, 0.0]]]),
]


@pytest.mark.parametrize(("mode", "im", "name", "expected"), CASES, ids=[c[0] for c in CASES])
def test_every_mode_reads_to_hand_computed_values(tmp_path: Path, mode: str, im: Image.Image, name: str,
                                                  expected: list) -> None:
    got = _read(tmp_path, im, name)
    atol = 0.02 if name.endswith(".jpg") else 1e-6  # JPEG is lossy even at these flat colours
    np.testing.assert_allclose(got, np.array(expected, np.float32), atol=atol)


def test_sixteen_bit_images_are_not_saturated(tmp_path: Path) -> None:
    """The reported bug: through PIL's 8-bit conversion every 16-bit pixel became 1.0."""
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    got = _read(tmp_path, Image.fromarray(ramp))
    np.testing.assert_allclose(got[0], ramp / 65535, atol=1e-6)
    assert got.std() > 0.2


def test_a_grey_sixteen_bit_image_in_an_rgb_folder_is_repeated_over_channels(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "a.png")  # first image: RGB
    Image.fromarray(np.full((2, 2), 13107, np.uint16)).save(tmp_path / "b.png")
    x, _ = load_dataset(f"folder:{tmp_path}", "test").tensors()
    np.testing.assert_allclose(x[1].numpy(), np.full((3, 2, 2), 0.2, np.float32), atol=1e-6)


def test_wide_modes_pil_cannot_save_as_png_are_scaled_by_their_depth() -> None:
    """32-bit integer (I) images hold 16-bit values; float (F) images hold [0, 1]; RGB targets repeat grey."""
    grey = to_unit_float(Image.fromarray(np.array([[0, 655, 65535]], np.int32)), "L")
    np.testing.assert_allclose(grey, [[0.0, 655 / 65535, 1.0]], atol=1e-7)
    rgb = to_unit_float(Image.fromarray(np.array([[0.0, 0.25]], np.float32)), "RGB")
    np.testing.assert_allclose(rgb, [[[0.0] * 3, [0.25] * 3]], atol=1e-7)


@pytest.mark.parametrize(("pixels", "needle"), [(np.array([[-5, 70000]], np.int32), "outside 0..65535"),
                                                (np.array([[0.5, 2.0]], np.float32), "outside \\[0, 1\\]"),
                                                (np.array([[0.5, np.nan]], np.float32), "outside \\[0, 1\\]")])
def test_hostile_wide_values_that_would_clip_are_refused(pixels: np.ndarray, needle: str) -> None:
    with pytest.raises(_RangeError, match=needle):
        to_unit_float(Image.fromarray(pixels), "L")


def _huge_png(path: Path, width: int, height: int) -> None:
    """A PNG that claims ``width`` x ``height`` (one black row; decoding would take gigabytes)."""
    Image.new("1", (width, 1)).save(path)
    data = bytearray(path.read_bytes())
    import struct
    import zlib

    ihdr = data.index(b"IHDR")
    data[ihdr + 8:ihdr + 12] = struct.pack(">I", height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("width", "height"), [(15000, 15000), (4097, 4096), (200000, 100)])
def test_hostile_images_over_the_documented_size_are_refused(tmp_path: Path, width: int, height: int) -> None:
    _huge_png(tmp_path / "huge.png", width, height)
    assert width * height > MAX_PIXELS
    with pytest.raises(DataError, match="too large"):
        load_dataset(f"folder:{tmp_path}", "test")


def test_hostile_truncated_image_is_a_data_error(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(tmp_path / "b.png")
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"b\.png"):
        load_dataset(f"folder:{tmp_path}", "test").tensors()


def test_hostile_huge_image_through_the_cli_is_one_line(tmp_path: Path, refused) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _huge_png(images / "bomb.png", 15000, 15000)
    refused(["stats", "--dataset", f"folder:{images}", "--out", tmp_path / "stats.safetensors"], "too large",
            root=tmp_path)
