"""``ebmbench import jem``: JEM's checkpoint format (Grathwohl et al. 2019, their ``train_wrn_ebm.py``): a torch
file holding a dict with ``model_state_dict`` (their Wide ResNet ``f`` with the heads ``energy_output`` and
``class_output``) and ``replay_buffer`` (SGLD samples in [-1, 1]).

The WRN's depth and width are read off the state dict, and so is its normalisation (JEM's ``--norm``) where the
tensors tell: ``none`` (no norm tensors), ``batch`` (running statistics), ``act`` (JEM's ActNorm: ``loc``,
``scale``, ``initialized``). ``instance`` and ``layer`` both hold only a weight and a bias per channel, so for
them ``norm`` must be given (``--norm``); the importer refuses rather than guess. A given ``norm`` that the
tensors contradict is refused too.

The same tensors serve JEM's two models, which the file does not name: ``head="ccf"`` (the default; their CCF,
class-conditional, E(x, y) = -logit_y) or ``head="f"`` (their ``--uncond`` model F: E(x) = -energy_output(f(x)),
unconditional, still classifying with its class head). The choice is recorded in the checkpoint's config and
its ``imported_from`` record.

Inputs are mapped from ebmbench's [0, 1] to JEM's [-1, 1]. The replay buffer is kept in the checkpoint (as
ebmbench's buffer format, 8-bit images in [0, 1]), so the quality suite's ``buffer`` protocol can start from it
(``--set buffer_start=stored``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ebmbench.checkpoint import file_sha256, save_checkpoint
from ebmbench.errors import CheckpointError, EbmbenchError
from ebmbench.importers.common import check_weights, dataset_defaults
from ebmbench.importers.weights import read_weights, state_dict_of
from ebmbench.models.base import ModelInfo
from ebmbench.models.jem import HEADS, JEM
from ebmbench.models.wrn import NORMS, infer_wrn
from ebmbench.replay_buffer import ReplayBuffer

INPUT_RANGE = (-1.0, 1.0)


def import_jem(src: str | Path, out: str | Path, dataset: str | None = None,
               input_shape: tuple[int, int, int] | None = None, norm: str | None = None,
               head: str = "ccf") -> Path:
    """Convert JEM checkpoint ``src`` into an ebmbench checkpoint at ``out``; returns ``out``.

    ``norm``: JEM's ``--norm`` (none, batch, instance, layer, act; None: read off the weights, which needs it
    only for instance and layer). ``head``: ``ccf`` (JEM's default model) or ``f`` (trained with ``--uncond``)."""
    if norm is not None and norm not in NORMS:
        raise EbmbenchError(f"--norm must be one of {', '.join(NORMS)}, not {norm!r}")
    if head not in HEADS:
        raise EbmbenchError(f"--head must be one of {', '.join(HEADS)}, not {head!r}")
    src = Path(src)
    content = read_weights(src)
    if not isinstance(content, dict) or "model_state_dict" not in content:
        found = ", ".join(sorted(map(str, content))[:5]) if isinstance(content, dict) else type(content).__name__
        raise CheckpointError(f"{src} is not a JEM checkpoint: expected a dict with model_state_dict and "
                              f"replay_buffer, found {found or 'an empty dict'}")
    state = state_dict_of(content["model_state_dict"], src, keys=())
    try:
        arch = infer_wrn(state)
    except ValueError as exc:
        raise CheckpointError(f"{src}: model_state_dict is not JEM's Wide ResNet ({exc})") from None
    norm = _resolve_norm(norm, arch["norms"], src)
    _check_act_initialized(state, norm, src)
    dataset, shape = dataset_defaults(dataset, input_shape, int(arch["num_classes"]), int(arch["in_channels"]))
    info = ModelInfo(family="jem", dataset=dataset, input_shape=shape, num_classes=int(arch["num_classes"]),
                     conditional=head == "ccf")
    config = {"arch": "wrn", "depth": arch["depth"], "width": arch["width"], "norm": norm, "head": head,
              "input_range": list(INPUT_RANGE)}
    model = JEM(info, config)
    check_weights(model, {f"net.{k}": v for k, v in state.items()}, src)
    buffer = _buffer_state(content.get("replay_buffer"), shape, src)
    training = {"imported_from": {"format": "jem", "file": src.name, "sha256": file_sha256(src),
                                  "architecture": f"WRN-{arch['depth']}-{arch['width']}", "norm": norm,
                                  "head": head, "replay_buffer": int(buffer["state.buffer.meta"][0]) if buffer else 0}}
    return save_checkpoint(out, model, training=training, state=buffer)


def _resolve_norm(given: str | None, fitting: tuple[str, ...], src: Path) -> str:
    """The normalisation to build: the one the tensors show, or the given one if the tensors allow it."""
    if given is None:
        if len(fitting) == 1:
            return fitting[0]
        raise CheckpointError(f"{src}: the weights fit JEM's --norm {' and '.join(fitting)} alike (each norm holds "
                              f"only a weight and a bias); say which with --norm {'|'.join(fitting)}")
    if given not in fitting:
        raise CheckpointError(f"{src}: --norm {given} does not fit the weights, whose norm tensors are those of "
                              f"--norm {' or '.join(fitting)}")
    return given


def _check_act_initialized(state: dict[str, torch.Tensor], norm: str, src: Path) -> None:
    """Refuse ActNorm layers JEM never initialised: JEM would set them from the first batch it saw, so their
    stored loc and scale are not what the model used."""
    if norm != "act":
        return
    fresh = [k[:-len(".initialized")] for k, v in state.items()
             if k.endswith(".initialized") and v.numel() == 1 and int(v.item()) == 0]
    if fresh:
        raise CheckpointError(f"{src}: {len(fresh)} of its ActNorm layers (first {fresh[0]}) were never initialised "
                              "(initialized = 0), so JEM would set them from the first batch it sees: this "
                              "checkpoint was saved before training; import one saved after")


def _buffer_state(buffer: Any, shape: tuple[int, int, int], src: Path) -> dict[str, torch.Tensor]:
    """JEM's replay buffer as ebmbench's buffer tensors (images mapped to [0, 1]); none if the file has none."""
    if buffer is None or (isinstance(buffer, list | tuple) and not buffer):
        return {}
    if not isinstance(buffer, torch.Tensor) or buffer.dim() != 4 or tuple(buffer.shape[1:]) != shape \
            or not buffer.is_floating_point():
        what = tuple(buffer.shape) if isinstance(buffer, torch.Tensor) else type(buffer).__name__
        raise CheckpointError(f"{src}: replay_buffer should be float images of shape (N, {', '.join(map(str, shape))})"
                              f", not {what}; pass --input-shape if the images are not {shape}")
    lo, hi = INPUT_RANGE
    store = ReplayBuffer(len(buffer), shape, 0, 0.0)
    store.push((buffer.float() - lo) / (hi - lo))
    return {f"state.buffer.{k}": v for k, v in store.state().items()}
