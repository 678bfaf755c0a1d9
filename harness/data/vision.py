"""The standard image datasets, read through torchvision from the data root (``DataContext.root``).

Nothing is fetched unless ``ctx.download`` is True (``--download``); a missing set is a one-line
``DataError`` naming the path looked in. Every set has the splits ``train`` and ``test`` (mapped onto the
dataset's own names), plus the extra splits a set really has (svhn ``extra``, celeba ``valid``, dtd ``val``).
Images are float CHW tensors in [0, 1]; labels are ints (celeba is unlabeled: -1).

Layout under ROOT: torchvision's own, so an existing torchvision data folder can be used as is, except that
svhn's loose ``.mat`` files get a folder of their own:

    cifar10        ROOT/cifar-10-batches-py/          3x32x32, 10 classes
    cifar100       ROOT/cifar-100-python/             3x32x32, 100 (fine) classes
    svhn           ROOT/svhn/{train,test}_32x32.mat   3x32x32, 10 classes
    mnist          ROOT/MNIST/raw/                    1x28x28, 10 classes
    fashion-mnist  ROOT/FashionMNIST/raw/             1x28x28, 10 classes
    celeba         ROOT/celeba/                       3x64x64 (centre 140x140 crop, resized), unlabeled
    dtd            ROOT/dtd/dtd/                      3x64x64 (shorter side resized, centre crop), 47 classes
    imagenet32     ROOT/imagenet32/{train,val}/       3x32x32 ImageFolder, one class per sub-folder

celeba and dtd images vary in size, so they are cropped and resized to a fixed shape: ``ctx.shape``'s height
and width when given (one resampling instead of two), else the native shape above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torchvision import datasets, transforms

from ebmbench.data.base import DataContext, ImageSet, Shape
from ebmbench.errors import DataError

Build = Callable[[Path, str, Callable, bool], Dataset]


@dataclass(frozen=True)
class _Source:
    """How one torchvision dataset is found, built and described."""

    name: str
    build: Build  # (root, native split, transform, download) -> dataset
    splits: dict[str, str]  # our split name -> the dataset's own
    shape: Shape
    num_classes: int | None  # None: count the dataset's ``classes``
    where: Callable[[Path, str], Path]  # (ROOT, native split) -> the path the files must be in
    files: str  # what belongs there, for the error message
    labeled: bool = True
    downloadable: bool = True
    precrop: int | None = None  # centre crop (pixels) before resizing variable-size images
    resize: bool = False


class _Unlabeled(Dataset):
    """A dataset whose targets are dropped: every label is -1."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.base[i][0], -1


def _transform(source: _Source, shape: Shape | None) -> Callable:
    """ToTensor, preceded for variable-size sets by a crop and resize to ``shape`` (or the native shape)."""
    if not source.resize:
        return transforms.ToTensor()
    h, w = (shape or source.shape)[1:]
    steps: list[Callable] = [transforms.CenterCrop(source.precrop)] if source.precrop else []
    steps += [transforms.Resize(min(h, w)), transforms.CenterCrop((h, w)), transforms.ToTensor()]
    return transforms.Compose(steps)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _not_found(source: _Source, path: Path, download: bool, exc: BaseException) -> DataError:
    """The one-line error for a set that is missing, incomplete, or failed to download."""
    if download and source.downloadable:
        return DataError(f"{source.name}: download into {path} failed ({_one_line(exc)}); "
                         f"place {source.files} there by hand")
    if not source.downloadable:
        return DataError(f"{source.name} not found at {path} and it cannot be downloaded automatically; "
                         f"place {source.files} there")
    return DataError(f"{source.name} not found (or incomplete) at {path}; rerun with --download to fetch it, "
                     f"or place {source.files} there")


def _load(source: _Source, split: str, ctx: DataContext) -> ImageSet:
    """Build ``source``'s ``split`` from ``ctx.root``, turning torchvision's failures into DataError."""
    if split not in source.splits:
        raise DataError(f"{source.name} has splits {', '.join(source.splits)}, not {split!r}")
    native = source.splits[split]
    root = Path(ctx.root).expanduser()
    path = source.where(root, native)
    shape = (source.shape[0], *ctx.shape[1:]) if source.resize and ctx.shape else source.shape
    try:
        download = ctx.download and source.downloadable
        dataset = source.build(root, native, _transform(source, ctx.shape), download)
    except (RuntimeError, OSError) as exc:  # torchvision: "Dataset not found or corrupted", missing files
        raise _not_found(source, path, ctx.download, exc) from exc
    num_classes = len(dataset.classes) if source.num_classes is None else source.num_classes  # type: ignore
    if not source.labeled:
        dataset = _Unlabeled(dataset)
    return ImageSet(source.name, split, dataset, tuple(shape), num_classes)


def _train_flag(cls: type) -> Build:
    """Builder for datasets chosen with ``train=True/False``."""
    return lambda root, split, tf, dl: cls(str(root), train=split == "train", transform=tf, download=dl)


TRAIN_TEST = {"train": "train", "test": "test"}

CIFAR10 = _Source("cifar10", _train_flag(datasets.CIFAR10), TRAIN_TEST, (3, 32, 32), 10,
                  lambda r, s: r / "cifar-10-batches-py",
                  "the extracted cifar-10-python.tar.gz (data_batch_1..5, test_batch, batches.meta)")
CIFAR100 = _Source("cifar100", _train_flag(datasets.CIFAR100), TRAIN_TEST, (3, 32, 32), 100,
                   lambda r, s: r / "cifar-100-python",
                   "the extracted cifar-100-python.tar.gz (train, test, meta)")
SVHN = _Source("svhn",
               lambda r, s, tf, dl: datasets.SVHN(str(r / "svhn"), split=s, transform=tf, download=dl),
               {**TRAIN_TEST, "extra": "extra"}, (3, 32, 32), 10,
               lambda r, s: r / "svhn" / f"{s}_32x32.mat", "that file (SVHN cropped digits, format 2)")
MNIST = _Source("mnist", _train_flag(datasets.MNIST), TRAIN_TEST, (1, 28, 28), 10,
                lambda r, s: r / "MNIST" / "raw",
                "the unzipped idx files (train-/t10k-images-idx3-ubyte, ...)")
FASHION_MNIST = _Source("fashion-mnist", _train_flag(datasets.FashionMNIST), TRAIN_TEST, (1, 28, 28), 10,
                        lambda r, s: r / "FashionMNIST" / "raw",
                        "the unzipped idx files (train-/t10k-images-idx3-ubyte, ...)")
CELEBA = _Source("celeba",
                 lambda r, s, tf, dl: datasets.CelebA(str(r), split=s, target_type=[], transform=tf,
                                                      download=dl),
                 {**TRAIN_TEST, "valid": "valid"}, (3, 64, 64), 0, lambda r, s: r / "celeba",
                 "img_align_celeba/ and the list_*.txt and identity_CelebA.txt files",
                 labeled=False, precrop=140, resize=True)
DTD = _Source("dtd", lambda r, s, tf, dl: datasets.DTD(str(r), split=s, transform=tf, download=dl),
              {**TRAIN_TEST, "val": "val"}, (3, 64, 64), 47, lambda r, s: r / "dtd" / "dtd",
              "the extracted dtd-r1.0.1.tar.gz (images/, labels/)", resize=True)
IMAGENET32 = _Source("imagenet32",
                     lambda r, s, tf, dl: datasets.ImageFolder(str(r / "imagenet32" / s), transform=tf),
                     {"train": "train", "test": "val"}, (3, 32, 32), None, lambda r, s: r / "imagenet32" / s,
                     "an ImageFolder of 32x32 images (<class>/*.png)", downloadable=False, resize=True)


def load_cifar10(split: str, ctx: DataContext) -> ImageSet:
    """``cifar10``: 3x32x32 images, 10 classes (ROOT/cifar-10-batches-py)."""
    return _load(CIFAR10, split, ctx)


def load_cifar100(split: str, ctx: DataContext) -> ImageSet:
    """``cifar100``: 3x32x32 images, 100 fine classes (ROOT/cifar-100-python)."""
    return _load(CIFAR100, split, ctx)


def load_svhn(split: str, ctx: DataContext) -> ImageSet:
    """``svhn``: 3x32x32 house-number digits, 10 classes, splits train/test/extra (ROOT/svhn)."""
    return _load(SVHN, split, ctx)


def load_mnist(split: str, ctx: DataContext) -> ImageSet:
    """``mnist``: 1x28x28 handwritten digits, 10 classes (ROOT/MNIST/raw)."""
    return _load(MNIST, split, ctx)


def load_fashion_mnist(split: str, ctx: DataContext) -> ImageSet:
    """``fashion-mnist``: 1x28x28 clothing images, 10 classes (ROOT/FashionMNIST/raw)."""
    return _load(FASHION_MNIST, split, ctx)


def load_celeba(split: str, ctx: DataContext) -> ImageSet:
    """``celeba``: aligned faces, centre-cropped to 3x64x64, unlabeled (ROOT/celeba)."""
    return _load(CELEBA, split, ctx)


def load_dtd(split: str, ctx: DataContext) -> ImageSet:
    """``dtd``: describable textures, centre-cropped to 3x64x64, 47 classes (ROOT/dtd/dtd)."""
    return _load(DTD, split, ctx)


def load_imagenet32(split: str, ctx: DataContext) -> ImageSet:
    """``imagenet32``: 3x32x32 downsampled ImageNet as an ImageFolder, test = val (ROOT/imagenet32)."""
    return _load(IMAGENET32, split, ctx)
