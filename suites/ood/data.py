"""The OOD suite's default sets. Class subsets (``classes:SPEC:NAME``, for near-OOD splits) live in
``ebmbench.data.subsets``: train every model on ``classes:0-4:digits`` and the defaults add the held-out classes,
``classes:5-9:digits``, as the near-OOD set.

Default OOD sets (used when the user names none):

- colour images (CIFAR-10-like): the reference paper's five, SVHN, textures (dtd), constant images, uniform
  noise and interpolations of the in-distribution test images, plus JEM's CIFAR-100 and CelebA, leaving out
  the in-distribution set itself; sets whose data are missing are skipped with a warning naming the path;
- grey images (the digits): uniform noise, constant images, Gaussian noise, interpolations, upside-down and
  inverted images of the in-distribution test set, and patches of sample photographs;
- either: the held-out classes when the model was trained on a ``classes:`` subset (near-OOD).
"""

from __future__ import annotations

from ebmbench.data.subsets import base_dataset, held_out

COLOUR_DEFAULTS = ("svhn", "dtd", "constant", "uniform", "interp:{ref}", "cifar100", "celeba")
GREY_DEFAULTS = ("uniform", "constant", "gaussian", "interp:{ref}", "flip:{ref}", "invert:{ref}", "photo-patches")


def default_sets(dataset: str, shape: tuple[int, int, int], num_classes: int) -> list[str]:
    """The default OOD sets for a model trained on ``dataset`` with input ``shape`` (see the module doc)."""
    templates = COLOUR_DEFAULTS if shape[0] == 3 else GREY_DEFAULTS
    names = [t.format(ref=dataset) for t in templates]
    names = [n for n in names if n != base_dataset(dataset)]
    near = held_out(dataset, num_classes)
    return [*names, near] if near else names
