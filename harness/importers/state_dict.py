"""``ebmbench import state-dict``: a plain torch state dict of one of ebmbench's own architectures (e.g. the
paper's ``igebm-cifar10`` ResNet trained in your own code), written out as a self-describing checkpoint.

The state dict may hold the network's own keys (``stem.weight``, ...) or the model's (``net.stem.weight``),
top-level or under ``state_dict`` / ``model_state_dict``; a DataParallel ``module.`` prefix is dropped.
"""

from __future__ import annotations

from pathlib import Path

from ebmbench.checkpoint import file_sha256, save_checkpoint
from ebmbench.errors import EbmbenchError
from ebmbench.importers.common import KNOWN, check_weights, dataset_defaults
from ebmbench.importers.weights import read_weights, state_dict_of
from ebmbench.models.base import ModelInfo
from ebmbench.models.networks import resolve_arch

FAMILIES = ("ebm", "classifier")


def import_state_dict(src: str | Path, out: str | Path, family: str = "ebm", arch: str = "igebm-cifar10",
                      dataset: str = "cifar10", input_shape: tuple[int, int, int] | None = None,
                      num_classes: int | None = None, conditional: bool = False) -> Path:
    """Convert the state dict in ``src`` for ``family``/``arch`` into an ebmbench checkpoint at ``out``."""
    from ebmbench.registries import MODELS

    src = Path(src)
    if family not in FAMILIES:
        raise EbmbenchError(f"state-dict imports families {', '.join(FAMILIES)}, not {family!r} (JEM checkpoints: "
                            "`ebmbench import jem`)")
    state = state_dict_of(read_weights(src), src)
    classes = num_classes if num_classes is not None else KNOWN.get(dataset, ((0, 0, 0), 0))[1]
    dataset, shape = dataset_defaults(dataset, input_shape, classes)
    info = ModelInfo(family=family, dataset=dataset, input_shape=shape, num_classes=classes,
                     conditional=conditional)
    try:
        model = MODELS.get(family).from_config(info, resolve_arch(arch))
    except (TypeError, ValueError) as exc:
        raise EbmbenchError(f"cannot build {family} {arch}: {exc}") from None
    weights = {k if k.startswith("net.") else f"net.{k}": v for k, v in state.items()}
    check_weights(model, weights, src)
    training = {"imported_from": {"format": "state-dict", "file": src.name, "sha256": file_sha256(src),
                                  "arch": arch}}
    return save_checkpoint(out, model, training=training)
