"""``folder:PATH``: any folder of images, searched recursively and read lazily with PIL.

Files ending in .png, .jpg, .jpeg, .bmp or .webp (any case) are used, in sorted path order. If every
image sits inside a sub-folder of PATH, the top-level sub-folder names (sorted) are the classes; otherwise
the set is unlabeled (-1). Images are greyscale (1 channel) if the first image is, else RGB. The shape is
``ctx.shape`` when given, else the first image's; images of another size are resized to it, so every item
has the declared shape. A folder has no splits: every split is the whole folder.

Pixel values: 8-bit modes (1, L, P, RGB, CMYK, YCbCr...) through PIL's conversion, divided by 255; 16-bit
greyscale (I;16 and its byte orders) divided by 65535; 32-bit integer (I) images are read as 16-bit values and
refused if any lies outside 0..65535; float (F) images must hold values in [0, 1]. Alpha is dropped (LA, RGBA and
palette transparency keep their colour values). Images over ``MAX_PIXELS`` (16 megapixels) are refused before
they are decoded.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ebmbench.data.base import DataContext, ImageSet, Shape, conform_images
from ebmbench.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
GREY_MODES = ("1", "L", "LA", "La", *WIDE_GREY_MODES)
MAX_PIXELS = 4096 * 4096


def find_images(root: Path) -> list[Path]:
    """All image files under ``root`` (recursively), sorted."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def _read(path: Path, mode: str) -> torch.Tensor:
    """One image as a float CHW tensor in [0, 1], converted to ``mode`` ("L" or "RGB")."""
    with _opened(path) as im:
        try:
            array = to_unit_float(im, mode)
        except (OSError, ValueError) as exc:  # truncated data, a mode PIL cannot convert
            raise DataError(f"cannot read image {path}: {exc}") from None
        except _RangeError as exc:
            raise DataError(f"image {path} {exc}") from None
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


class _RangeError(Exception):
    """Pixel values a wide mode cannot map to [0, 1] without clipping."""


def to_unit_float(im: Image.Image, mode: str) -> np.ndarray:
    """Pixels in [0, 1] as float32 (H, W) for "L" or (H, W, 3) for "RGB", scaled by the source's own depth:
    PIL's conversion of 16-bit or float images to 8-bit saturates (every 16-bit pixel would become 1.0)."""
    if im.mode not in WIDE_GREY_MODES:
        return np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    values = np.asarray(im).astype(np.float32)
    if im.mode == "F":
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise _RangeError("is a float image with values outside [0, 1]; save it as 8 or 16 bits")
    else:
        if values.min() < 0 or values.max() > 65535:
            raise _RangeError("has 32-bit pixel values outside 0..65535; save it as 8 or 16 bits")
        values = values / 65535.0
    return np.repeat(values[:, :, None], 3, axis=2) if mode == "RGB" else values


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The image at ``path``, opened lazily (header only) and refused over ``MAX_PIXELS`` before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"image {path} is too large (over {MAX_PIXELS} pixels, the most ebmbench reads); "
                        "resize it") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    with im:
        if im.width * im.height > MAX_PIXELS:
            raise DataError(f"image {path} is too large ({im.width}x{im.height}; ebmbench reads at most "
                            f"{MAX_PIXELS} pixels); resize it")
        yield im


def _first_image(path: Path) -> tuple[str, Shape]:
    """The PIL mode ("L" or "RGB") and CHW shape of the image at ``path``."""
    with _opened(path) as im:
        mode = "L" if im.mode in GREY_MODES else "RGB"
        return mode, (1 if mode == "L" else 3, im.height, im.width)


def folder_labels(root: Path, files: list[Path]) -> tuple[list[int], int]:
    """Labels from top-level sub-folder names when every file is in one, else all -1 with 0 classes."""
    parts = [f.relative_to(root).parts for f in files]
    if any(len(p) < 2 for p in parts):
        return [-1] * len(files), 0
    classes = sorted({p[0] for p in parts})
    index = {c: i for i, c in enumerate(classes)}
    return [index[p[0]] for p in parts], len(classes)


class ImageFolderSet(Dataset):
    """Images read from files on access, converted to ``mode`` and resized to ``shape``."""

    def __init__(self, files: list[Path], labels: list[int], mode: str, shape: Shape) -> None:
        self.files, self.labels, self.mode, self.shape = files, labels, mode, shape

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = _read(self.files[i], self.mode)
        if tuple(x.shape) != tuple(self.shape):
            x = conform_images(x, self.shape).clamp(0, 1)
        return x, self.labels[i]


def load_folder(split: str, ctx: DataContext, argument: str = "") -> ImageSet:
    """``folder:PATH``: any folder of images (recursive), classes from sub-folders; splits are all alike."""
    if not argument:
        raise DataError("folder needs a path: use folder:PATH")
    root = Path(argument).expanduser()
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder")
    files = find_images(root)
    if not files:
        raise DataError(f"no images ({', '.join(EXTENSIONS)}) found under {root}")
    mode, native = _first_image(files[0])
    shape = tuple(ctx.shape) if ctx.shape else native
    labels, num_classes = folder_labels(root, files)
    dataset = ImageFolderSet(files, labels, mode, shape)
    return ImageSet(f"folder:{argument}", split, dataset, shape, num_classes)
