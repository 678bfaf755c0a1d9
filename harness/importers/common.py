"""What the importers share: a dataset's usual image shape and classes, and checking that imported weights
fit the architecture exactly (names, shapes, dtypes) before they are loaded."""

from __future__ import annotations

from pathlib import Path

import torch

from ebmbench.errors import CheckpointError, EbmbenchError
from ebmbench.models.base import Model

# name -> (image shape, classes), for datasets whose shape the importers can assume
KNOWN: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((1, 8, 8), 10), "mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "svhn": ((3, 32, 32), 10),
}
BY_CLASSES = {10: "cifar10", 100: "cifar100"}


def dataset_defaults(dataset: str | None, input_shape: tuple[int, int, int] | None, num_classes: int,
                     channels: int | None = None) -> tuple[str, tuple[int, int, int]]:
    """The dataset name (given, or guessed from the classes: 10 -> cifar10, 100 -> cifar100) and input shape
    (given, or the dataset's)."""
    if dataset is None:
        dataset = BY_CLASSES.get(num_classes)
        if dataset is None:
            raise EbmbenchError(f"the model has {num_classes} classes; say which dataset it was trained on with "
                                "--dataset")
    if input_shape is None:
        if dataset not in KNOWN:
            raise EbmbenchError(f"ebmbench does not know the image shape of {dataset!r}; give --input-shape C,H,W")
        input_shape = KNOWN[dataset][0]
    shape = tuple(int(v) for v in input_shape)
    if channels is not None and shape[0] != channels:
        raise CheckpointError(f"the network takes {channels}-channel images but {dataset} images have "
                              f"{shape[0]}; give the right --dataset or --input-shape")
    return dataset, shape  # type: ignore[return-value]


def check_weights(model: Model, weights: dict[str, torch.Tensor], src: Path) -> None:
    """Load ``weights`` into ``model`` if names, shapes and dtypes match exactly; else one line saying what
    differs (the first few names of each kind)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shared = sorted(set(expected) & set(weights))
    wrong = [k for k in shared if expected[k].shape != weights[k].shape]
    dtype = [k for k in shared if expected[k].is_floating_point() != weights[k].is_floating_point()]
    problems = [(label, keys) for label, keys in (("missing", missing), ("unexpected", unexpected),
                                                 ("wrong shape", wrong), ("wrong dtype", dtype)) if keys]
    if problems:
        detail = "; ".join(f"{label}: {', '.join(_short(k) for k in keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           + (f" {tuple(weights[keys[0]].shape)} vs {tuple(expected[keys[0]].shape)}"
                              if label == "wrong shape" else "") for label, keys in problems)
        raise CheckpointError(f"{src}: the weights do not fit the architecture ({detail})")
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in weights.items()})


def _short(key: str) -> str:
    return key[len("net."):] if key.startswith("net.") else key
