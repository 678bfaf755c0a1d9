"""The embedded default: scikit-learn's 1797 8x8 digits, works offline.

Split (fixed, documented): ``train_test_split(test_size=0.2, random_state=0, stratify=labels)`` gives 1437
train and 360 test images. Pixel values 0..16 are scaled to [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ebmbench.data.base import DataContext, ImageSet, tensor_set
from ebmbench.errors import DataError

SPLITS = ("train", "test")


@lru_cache(maxsize=1)
def _digits_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    x_tr, x_te, y_tr, y_te = train_test_split(images, bunch.target, test_size=0.2, random_state=0,
                                              stratify=bunch.target)
    return {"train": (x_tr, y_tr), "test": (x_te, y_te)}


def load_digits_split(split: str, ctx: DataContext) -> ImageSet:
    """``digits``: 1x8x8 images in [0, 1], 10 classes."""
    if split not in SPLITS:
        raise DataError(f"digits has splits {', '.join(SPLITS)}, not {split!r}")
    x, y = _digits_arrays()[split]
    return tensor_set("digits", split, torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), 10)
