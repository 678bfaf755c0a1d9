"""Synthetic and derived out-of-distribution sets, deterministic given ``ctx.seed`` and the split.

Generated sets (``constant``, ``uniform``, ``gaussian``, ``photo-patches``) have no shape of their own, so
they take ``ctx.shape`` (the model's input) and ``ctx.n`` images (default 1000). Derived sets transform
another registered set: ``interp:NAME`` (mid-points of random pairs, the "interpolation" OOD test of Du &
Mordatch), ``flip:NAME`` (upside down) and ``invert:NAME`` (1 - x); an empty NAME means ``ctx.reference``.
Generated and interpolated sets are unlabeled (-1); flipped and inverted sets keep their labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from ebmbench.data.base import DataContext, ImageSet, Shape, conform_images, load_dataset, tensor_set
from ebmbench.errors import DataError
from ebmbench.seeds import keyed

DEFAULT_N = 1000
SPLITS = ("train", "test")


def _setup(name: str, split: str, ctx: DataContext) -> tuple[Shape, int, torch.Generator]:
    """The target shape, the number of images and a generator seeded by (name, split, seed)."""
    if ctx.shape is None:
        raise DataError(f"{name} needs a target shape (the model's input shape); none was given")
    if split not in SPLITS:
        raise DataError(f"{name} has splits {', '.join(SPLITS)}, not {split!r}")
    n = DEFAULT_N if ctx.n is None else ctx.n
    if n < 1:
        raise DataError(f"{name} needs at least one image, not n={n}")
    return tuple(ctx.shape), n, _generator(name, split, ctx.seed)


def _generator(name: str, split: str, seed: int) -> torch.Generator:
    """A generator whose seed depends on the set, the split and the run seed (stable across processes)."""
    return torch.Generator().manual_seed(keyed(name, split, seed))


def load_constant(split: str, ctx: DataContext) -> ImageSet:
    """``constant``: flat images, one uniformly random colour per image (needs the model's shape)."""
    (c, h, w), n, gen = _setup("constant", split, ctx)
    colours = torch.rand(n, c, 1, 1, generator=gen)
    return tensor_set("constant", split, colours.expand(n, c, h, w).contiguous(), None, 0)


def load_uniform(split: str, ctx: DataContext) -> ImageSet:
    """``uniform``: i.i.d. uniform noise in [0, 1] (needs the model's shape)."""
    shape, n, gen = _setup("uniform", split, ctx)
    return tensor_set("uniform", split, torch.rand(n, *shape, generator=gen), None, 0)


def load_gaussian(split: str, ctx: DataContext) -> ImageSet:
    """``gaussian``: i.i.d. N(0.5, 0.25^2) noise clamped to [0, 1] (needs the model's shape)."""
    shape, n, gen = _setup("gaussian", split, ctx)
    x = (0.5 + 0.25 * torch.randn(n, *shape, generator=gen)).clamp(0, 1)
    return tensor_set("gaussian", split, x, None, 0)


@lru_cache(maxsize=1)
def _photos() -> tuple[torch.Tensor, ...]:
    """scikit-learn's two sample photographs as float CHW tensors in [0, 1]."""
    from sklearn.datasets import load_sample_images

    return tuple(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
                 for im in load_sample_images().images)


def _random_crop(photo: torch.Tensor, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """A crop with the target's aspect ratio, its longer side 1/8 to 1/2 of the photo's shorter side."""
    side = min(photo.shape[1:])
    longest = int(torch.randint(side // 8, side // 2 + 1, (1,), generator=gen))
    ch, cw = max(1, round(longest * h / max(h, w))), max(1, round(longest * w / max(h, w)))
    top = int(torch.randint(0, photo.shape[1] - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, photo.shape[2] - cw + 1, (1,), generator=gen))
    return photo[:, top:top + ch, left:left + cw]


def load_photo_patches(split: str, ctx: DataContext) -> ImageSet:
    """``photo-patches``: random crops of natural photos (scikit-learn's samples), resized to the shape."""
    shape, n, gen = _setup("photo-patches", split, ctx)
    photos = _photos()
    which = torch.randint(0, len(photos), (n,), generator=gen).tolist()
    crops = [conform_images(_random_crop(photos[k], shape[1], shape[2], gen), shape) for k in which]
    return tensor_set("photo-patches", split, torch.stack(crops).clamp(0, 1), None, 0)


def _base(kind: str, argument: str, split: str, ctx: DataContext) -> ImageSet:
    """The set a derived set is built from: ``argument`` or else ``ctx.reference``, conformed to ctx.shape."""
    if argument:
        return load_dataset(argument, split, ctx)
    if not ctx.reference:
        raise DataError(f"{kind} needs a dataset: use {kind}:NAME (or give a reference dataset)")
    return load_dataset(ctx.reference, split, replace(ctx, reference=None))  # no endless self-reference


def interpolation_pairs(size: int, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random index pairs (i, j) into a set of ``size``, with i != j whenever size > 1."""
    i = torch.randint(0, size, (n,), generator=gen)
    if size == 1:
        return i, i.clone()
    j = (i + torch.randint(1, size, (n,), generator=gen)) % size
    return i, j


def load_interp(split: str, ctx: DataContext, argument: str = "") -> ImageSet:
    """``interp:NAME``: 0.5 x + 0.5 x' for random pairs of NAME's images (default: the reference set)."""
    base = _base("interp", argument, split, ctx)
    if len(base) == 0:
        raise DataError(f"interp: {base.name!r} split {split!r} is empty")
    n = DEFAULT_N if ctx.n is None else ctx.n
    i, j = interpolation_pairs(len(base), n, _generator(f"interp:{base.name}", split, ctx.seed))
    needed = sorted(set(i.tolist()) | set(j.tolist()))
    images = {k: base.dataset[k][0] for k in needed}
    x = torch.stack([0.5 * images[a] + 0.5 * images[b] for a, b in zip(i.tolist(), j.tolist(), strict=True)])
    return tensor_set(f"interp:{base.name}", split, x, None, 0)


def _flip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-2)


def _invert(x: torch.Tensor) -> torch.Tensor:
    return 1.0 - x


class _Mapped(Dataset):
    """Another set's images passed through a fixed (module-level, so picklable) function, labels kept."""

    def __init__(self, base: Dataset, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.base, self.fn = base, fn

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.base[i]
        return self.fn(x), y


def load_flip(split: str, ctx: DataContext, argument: str = "") -> ImageSet:
    """``flip:NAME``: NAME's images upside down (vertical flip), labels kept."""
    base = _base("flip", argument, split, ctx)
    return replace(base, name=f"flip:{base.name}", dataset=_Mapped(base.dataset, _flip))


def load_invert(split: str, ctx: DataContext, argument: str = "") -> ImageSet:
    """``invert:NAME``: NAME's images with values inverted (1 - x), labels kept."""
    base = _base("invert", argument, split, ctx)
    return replace(base, name=f"invert:{base.name}", dataset=_Mapped(base.dataset, _invert))
