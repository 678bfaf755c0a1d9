"""The torchvision-backed sets, read from tiny stand-ins written in each dataset's real on-disk format.

The real files are checked against published MD5 sums, which tiny stand-ins cannot match, so the checks are
reduced to "the file exists" for the formats that verify sums; everything else runs the real loading path.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from torchvision.datasets import celeba, cifar, dtd, mnist, svhn

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.errors import DataError

RNG = np.random.default_rng(0)


def _exists(fpath: str, md5: str | None = None) -> bool:
    return os.path.isfile(fpath)


def _no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("a download was attempted")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt fails the test; MD5 checks only ask whether the file exists."""
    for module, name in [(cifar, "download_and_extract_archive"), (mnist, "download_and_extract_archive"),
                         (svhn, "download_url"), (celeba, "download_file_from_google_drive"),
                         (dtd, "download_and_extract_archive")]:
        monkeypatch.setattr(module, name, _no_download)
    for module in (cifar, svhn, celeba):
        monkeypatch.setattr(module, "check_integrity", _exists)


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def _cifar10(root: Path) -> dict[str, np.ndarray]:
    """Batches of 2 training images (5 files) and 3 test images; returns the test pixels (N, 3072)."""
    folder = root / "cifar-10-batches-py"
    for k in range(1, 6):
        data = RNG.integers(0, 256, (2, 3072), dtype=np.uint8)
        _pickle(folder / f"data_batch_{k}", {"data": data, "labels": [k, k + 1]})
    test = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
    _pickle(folder / "test_batch", {"data": test, "labels": [7, 8, 9]})
    _pickle(folder / "batches.meta", {"label_names": [f"c{i}" for i in range(10)]})
    return {"test": test}


def _ctx(root: Path, **kw: object) -> DataContext:
    return DataContext(root=root, **kw)  # type: ignore[arg-type]


def test_cifar10_reads_pixels_labels_and_splits(tmp_path: Path) -> None:
    arrays = _cifar10(tmp_path)
    test = load_dataset("cifar10", "test", _ctx(tmp_path))
    x, y = test.tensors()
    assert test.shape == (3, 32, 32) and test.num_classes == 10 and x.shape == (3, 3, 32, 32)
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
    expected = torch.from_numpy(arrays["test"].reshape(3, 3, 32, 32).astype(np.float32) / 255)
    assert torch.allclose(x, expected)
    assert y.tolist() == [7, 8, 9]
    train = load_dataset("cifar10", "train", _ctx(tmp_path))
    assert len(train) == 10
    assert train.tensors()[1].tolist() == [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]


def test_cifar10_conforms_to_the_context_shape(tmp_path: Path) -> None:
    _cifar10(tmp_path)
    test = load_dataset("cifar10", "test", _ctx(tmp_path, shape=(1, 16, 16)))
    x, _ = test.tensors()
    assert test.shape == (1, 16, 16) and x.shape == (3, 1, 16, 16)


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    for split, labels in [("train", [3, 99]), ("test", [42])]:
        data = RNG.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        _pickle(folder / split, {"data": data, "fine_labels": labels, "coarse_labels": [0] * len(labels)})
    _pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    train = load_dataset("cifar100", "train", _ctx(tmp_path))
    assert train.num_classes == 100 and train.tensors()[1].tolist() == [3, 99]
    assert load_dataset("cifar100", "test", _ctx(tmp_path)).tensors()[1].tolist() == [42]


def _idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (the MNIST format): magic with type 0x08 (uint8) and rank, big-endian sizes, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_formats_read_from_idx_files(tmp_path: Path, name: str, folder: str) -> None:
    raw = tmp_path / folder / "raw"
    images = {"train": RNG.integers(0, 256, (4, 28, 28)), "t10k": RNG.integers(0, 256, (2, 28, 28))}
    for prefix, array in images.items():
        _idx(raw / f"{prefix}-images-idx3-ubyte", array)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(len(array)) + 3)
    test = load_dataset(name, "test", _ctx(tmp_path))
    x, y = test.tensors()
    assert test.shape == (1, 28, 28) and x.shape == (2, 1, 28, 28) and y.tolist() == [3, 4]
    assert torch.allclose(x[:, 0], torch.from_numpy(images["t10k"].astype(np.float32) / 255))
    assert len(load_dataset(name, "train", _ctx(tmp_path))) == 4


def test_svhn_reads_mat_files_and_maps_label_10_to_0(tmp_path: Path) -> None:
    (tmp_path / "svhn").mkdir()
    pixels = RNG.integers(0, 256, (32, 32, 3, 3), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "svhn" / "test_32x32.mat", {"X": pixels, "y": np.array([[10], [1], [9]])})
    test = load_dataset("svhn", "test", _ctx(tmp_path))
    x, y = test.tensors()
    assert test.shape == (3, 32, 32) and y.tolist() == [0, 1, 9]
    assert torch.allclose(x[0], torch.from_numpy(pixels[..., 0].astype(np.float32) / 255).permute(2, 0, 1))


def _png(path: Path, size: tuple[int, int], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = 3 if mode == "RGB" else 1
    array = RNG.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode=mode).save(path)


def test_dtd_resizes_variable_images_to_the_declared_shape(tmp_path: Path) -> None:
    data = tmp_path / "dtd" / "dtd"
    for cls, size in [("banded", (90, 70)), ("woven", (50, 120))]:
        _png(data / "images" / cls / f"{cls}_1.jpg", size)
    (data / "labels").mkdir()
    (data / "labels" / "train1.txt").write_text("banded/banded_1.jpg\n")
    (data / "labels" / "test1.txt").write_text("banded/banded_1.jpg\nwoven/woven_1.jpg\n")
    test = load_dataset("dtd", "test", _ctx(tmp_path))
    x, y = test.tensors()
    assert test.shape == (3, 64, 64) and x.shape == (2, 3, 64, 64) and y.tolist() == [0, 1]
    assert x.min() >= 0 and x.max() <= 1
    small = load_dataset("dtd", "test", _ctx(tmp_path, shape=(1, 16, 24)))
    assert small.shape == (1, 16, 24) and small.tensors()[0].shape == (2, 1, 16, 24)


def test_imagenet32_is_an_image_folder_with_test_read_from_val(tmp_path: Path) -> None:
    for split in ("train", "val"):
        for cls in ("n01", "n02"):
            _png(tmp_path / "imagenet32" / split / cls / f"{split}.png", (32, 32))
    _png(tmp_path / "imagenet32" / "val" / "n02" / "odd.png", (40, 36))
    test = load_dataset("imagenet32", "test", _ctx(tmp_path))
    x, y = test.tensors()
    assert test.shape == (3, 32, 32) and x.shape == (3, 3, 32, 32) and y.tolist() == [0, 1, 1]
    assert test.num_classes == 2


def test_celeba_is_unlabeled_and_cropped(tmp_path: Path) -> None:
    folder = tmp_path / "celeba"
    names = ["000001.jpg", "000002.jpg", "000003.jpg"]
    for name in names:
        _png(folder / "img_align_celeba" / name, (178, 218))
    rows = "\n".join
    partition = zip(names, [0, 2, 2], strict=True)
    (folder / "list_eval_partition.txt").write_text(rows(f"{n} {p}" for n, p in partition))
    (folder / "identity_CelebA.txt").write_text(rows(f"{n} 1" for n in names))
    tables = [("list_attr_celeba.txt", "Smiling", "1"), ("list_bbox_celeba.txt", "x y", "1 2"),
              ("list_landmarks_align_celeba.txt", "lx ly", "3 4")]
    for file, header, values in tables:
        (folder / file).write_text(rows(["3", header, *(f"{n} {values}" for n in names)]))
    test = load_dataset("celeba", "test", _ctx(tmp_path))
    x, y = test.tensors()
    assert test.shape == (3, 64, 64) and x.shape == (2, 3, 64, 64) and y.tolist() == [-1, -1]
    assert test.num_classes == 0


@pytest.mark.parametrize(("name", "split", "where"), [
    ("cifar10", "test", "cifar-10-batches-py"), ("cifar100", "train", "cifar-100-python"),
    ("svhn", "test", "svhn/test_32x32.mat"), ("mnist", "test", "MNIST/raw"),
    ("fashion-mnist", "train", "FashionMNIST/raw"), ("celeba", "test", "celeba"), ("dtd", "test", "dtd/dtd"),
])
def test_missing_data_is_one_line_naming_the_path_and_nothing_is_fetched(
        tmp_path: Path, name: str, split: str, where: str) -> None:
    with pytest.raises(DataError) as info:
        load_dataset(name, split, _ctx(tmp_path))
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / where) in message and "--download" in message
    assert list(tmp_path.iterdir()) == []


def test_imagenet32_missing_says_it_cannot_be_downloaded(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot be downloaded") as info:
        load_dataset("imagenet32", "test", _ctx(tmp_path, download=True))
    assert str(tmp_path / "imagenet32" / "val") in str(info.value)


def test_failed_download_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise URLError("no network\nat all")

    monkeypatch.setattr(cifar, "download_and_extract_archive", unreachable)
    with pytest.raises(DataError, match=r"download into .* failed") as info:
        load_dataset("cifar10", "test", _ctx(tmp_path, download=True))
    assert "\n" not in str(info.value)


def test_unknown_split_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="splits train, test"):
        load_dataset("cifar10", "validation", _ctx(tmp_path))
