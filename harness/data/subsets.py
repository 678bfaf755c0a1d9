"""Class subsets of a labelled set: ``classes:SPEC:NAME`` is the registered set NAME restricted to the classes in
SPEC (``0-4``, ``0,2,7`` or ``0-2,7``), labels unchanged. Train on ``classes:0-4:digits`` and the held-out classes,
``classes:5-9:digits``, are a near-OOD set."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.utils.data import Subset

from ebmbench.data.base import DataContext, ImageSet, load_dataset
from ebmbench.errors import DataError

PREFIX = "classes"


def parse_classes(spec: str) -> list[int]:
    """``"0-2,7"`` -> ``[0, 1, 2, 7]``."""
    out: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in spec.split(","))):
            low, sep, high = part.partition("-")
            out.update(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise DataError(f"classes: bad class list {spec!r}; write e.g. 0-4 or 0,2,7") from None
    if not out:
        raise DataError("classes: give at least one class, e.g. classes:0-4:digits")
    return sorted(out)


def format_classes(classes: list[int]) -> str:
    """``[0, 1, 2, 7]`` -> ``"0-2,7"`` (the inverse of ``parse_classes``)."""
    runs: list[list[int]] = []
    for c in sorted(classes):
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def split_name(name: str) -> tuple[list[int], str] | None:
    """``classes:SPEC:NAME`` -> (classes, NAME); None for any other name."""
    prefix, sep, rest = name.partition(":")
    if prefix != PREFIX or not sep:
        return None
    spec, sep, base = rest.partition(":")
    if not sep or not base:
        raise DataError(f"write a class subset as classes:SPEC:NAME (e.g. classes:0-4:digits), not {name!r}")
    return parse_classes(spec), base


def _labels(imageset: ImageSet) -> torch.Tensor:
    """Every label of a set, read from the dataset's label list where it has one (no image decoding)."""
    dataset = imageset.dataset
    for attr in ("targets", "labels"):
        if hasattr(dataset, attr):
            return torch.as_tensor(getattr(dataset, attr)).long().flatten()
    if hasattr(dataset, "tensors"):
        return dataset.tensors[1].long()
    return torch.as_tensor([int(dataset[i][1]) for i in range(len(imageset))])


def load_classes(split: str, ctx: DataContext, argument: str = "") -> ImageSet:
    """``classes:SPEC:NAME``: the images of NAME whose label is in SPEC (labels kept), for near-OOD splits."""
    classes, base_name = split_name(f"{PREFIX}:{argument}") or ([], "")
    base = load_dataset(base_name, split, replace(ctx, shape=None))
    if base.num_classes < 2:
        raise DataError(f"classes: {base_name!r} has no class labels to select from")
    bad = [c for c in classes if not 0 <= c < base.num_classes]
    if bad:
        raise DataError(f"classes: {base_name!r} has classes 0-{base.num_classes - 1}; {bad} are not among them")
    keep = torch.isin(_labels(base), torch.as_tensor(classes)).nonzero().flatten().tolist()
    name = f"{PREFIX}:{format_classes(classes)}:{base.name}"
    return replace(base, name=name, dataset=Subset(base.dataset, keep))


def held_out(dataset: str, num_classes: int) -> str | None:
    """The near-OOD set of a model trained on ``classes:SPEC:NAME``: NAME's other classes (None otherwise)."""
    parsed = split_name(dataset)
    if parsed is None:
        return None
    classes, base = parsed
    rest = [c for c in range(num_classes) if c not in classes]
    return f"{PREFIX}:{format_classes(rest)}:{base}" if rest else None


def base_dataset(dataset: str) -> str:
    """The registered set under any ``classes:`` subsets."""
    parsed = split_name(dataset)
    return dataset if parsed is None else base_dataset(parsed[1])
