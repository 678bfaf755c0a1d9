"""``folder:PATH``: any folder of images, searched recursively and read lazily with PIL.

Files ending in .png, .jpg, .jpeg, .bmp or .webp (any case) are used, in sorted path order. If every
image sits inside a sub-folder of PATH, the top-level sub-folder names (sorted) are the classes; otherwise
the set is unlabeled (-1). Images are greyscale (1 channel) if the first image is, else RGB. The shape is
``ctx.shape`` when given, else the first image's; images of another size are resized to it, so every item
has the declared shape. A folder has no splits: every split is the whole folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ebmbench.data.base import DataContext, ImageSet, Shape, conform_images
from ebmbench.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def find_images(root: Path) -> list[Path]:
    """All image files under ``root`` (recursively), sorted."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def _read(path: Path, mode: str) -> torch.Tensor:
    """One image as a float CHW tensor in [0, 1], converted to ``mode`` ("L" or "RGB")."""
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    tensor = torch.from_numpy(array)
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def _first_image(path: Path) -> tuple[str, Shape]:
    """The PIL mode ("L" or "RGB") and CHW shape of the image at ``path``."""
    try:
        with Image.open(path) as im:
            mode = "L" if im.mode in GREY_MODES else "RGB"
            return mode, (1 if mode == "L" else 3, im.height, im.width)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


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
