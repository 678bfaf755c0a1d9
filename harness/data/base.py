"""The image-set contract every dataset meets, and name resolution through the dataset registry.

A dataset name is either a registered name (``digits``, ``cifar10``) or ``prefix:argument`` where the prefix is a
registered name that takes an argument (``folder:/path/to/images``, ``interp:digits``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from ebmbench.errors import DataError

Shape = tuple[int, int, int]


def default_data_root() -> Path:
    """``$EBMBENCH_DATA`` or ``~/.cache/ebmbench/data``: where real datasets are read from."""
    return Path(os.environ.get("EBMBENCH_DATA", Path.home() / ".cache" / "ebmbench" / "data")).expanduser()


@dataclass(frozen=True)
class DataContext:
    """What a loader may need besides the split: where data lives, and the shape to conform to.

    ``shape`` makes every set comparable with a model's input (OOD sets are resized and converted to the
    model's channels); ``reference`` names the in-distribution set that derived sets (interpolations,
    near-OOD splits) are built from; ``n`` bounds synthetic sets.
    """

    root: Path = field(default_factory=default_data_root)
    download: bool = False
    shape: Shape | None = None
    reference: str | None = None
    n: int | None = None
    seed: int = 0


@dataclass
class ImageSet:
    """A split of images: ``dataset[i]`` is ``(x, y)``, x a float CHW tensor in ``value_range``, y an int
    label or -1 where the set is unlabeled."""

    name: str
    split: str
    dataset: Dataset
    shape: Shape
    num_classes: int
    value_range: tuple[float, float] = (0.0, 1.0)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def loader(self, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False) -> DataLoader:
        """Batches of ``(x, y)``; shuffling is seeded so runs repeat."""
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(self.dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                          drop_last=drop_last)

    def tensors(self, n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``n`` examples (a seeded random subset when ``n`` is smaller than the set) as two tensors."""
        dataset = self.dataset
        if isinstance(dataset, TensorDataset) and (n is None or n >= len(dataset)):
            x, y = dataset.tensors
            return x, y
        if n is not None and n < len(self):
            idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
            dataset = Subset(dataset, idx.tolist())
        xs, ys = zip(*(dataset[i] for i in range(len(dataset))), strict=True) if len(dataset) else ((), ())
        if not xs:
            raise DataError(f"dataset {self.name!r} split {self.split!r} is empty")
        return torch.stack(list(xs)), torch.as_tensor(ys, dtype=torch.long)

    def conformed(self, shape: Shape | None) -> ImageSet:
        """This set resized and channel-converted to ``shape`` (a no-op when it already matches)."""
        if shape is None or tuple(shape) == tuple(self.shape):
            return self
        return replace(self, dataset=_ConformDataset(self.dataset, tuple(shape)), shape=tuple(shape))


def conform_images(x: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Resize a batch (or one image) to ``shape`` and convert grey <-> colour by averaging or repeating."""
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    c, h, w = shape
    if x.shape[1] != c:
        x = x.mean(dim=1, keepdim=True)
        x = x.expand(-1, c, -1, -1) if c > 1 else x
    if x.shape[-2:] != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    x = x.contiguous()
    return x[0] if single else x


class _ConformDataset(Dataset):
    def __init__(self, base: Dataset, shape: Shape) -> None:
        self.base, self.shape = base, shape

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.base[i]
        return conform_images(x, self.shape).clamp(0, 1), y


def tensor_set(name: str, split: str, x: torch.Tensor, y: torch.Tensor | None, num_classes: int) -> ImageSet:
    """An in-memory ImageSet from a float tensor of images in [0, 1] and optional labels."""
    if y is None:
        y = torch.full((len(x),), -1, dtype=torch.long)
    return ImageSet(name, split, TensorDataset(x.float(), y.long()), tuple(x.shape[1:]), num_classes)


def load_dataset(name: str, split: str = "test", ctx: DataContext | None = None) -> ImageSet:
    """Resolve ``name`` through the dataset registry and load ``split``, conformed to ``ctx.shape``."""
    from ebmbench.registries import DATASETS

    ctx = ctx or DataContext()
    prefix, sep, argument = name.partition(":")
    loader = DATASETS.get(prefix)
    imageset = loader(split, ctx, argument) if sep else loader(split, ctx)
    return imageset.conformed(ctx.shape)
