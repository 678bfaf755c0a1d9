"""``ebmbench import jem``: JEM's checkpoint format (Grathwohl et al. 2019, their ``train_wrn_ebm.py``): a torch
file holding a dict with ``model_state_dict`` (their CCF model: WRN backbone ``f``, heads ``energy_output`` and
``class_output``) and ``replay_buffer`` (SGLD samples in [-1, 1]).

The WRN's depth, width and normalisation are read off the state dict; inputs are mapped from ebmbench's [0, 1]
to JEM's [-1, 1]. The replay buffer is kept in the checkpoint (as ebmbench's buffer format, 8-bit images in
[0, 1]), so the quality suite's ``buffer`` protocol can start from it (``--set buffer_start=stored``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ebmbench.checkpoint import file_sha256, save_checkpoint
from ebmbench.errors import CheckpointError
from ebmbench.importers.common import check_weights, dataset_defaults
from ebmbench.importers.weights import read_weights, state_dict_of
from ebmbench.models.base import ModelInfo
from ebmbench.models.jem import JEM
from ebmbench.models.wrn import infer_wrn
from ebmbench.replay_buffer import ReplayBuffer

INPUT_RANGE = (-1.0, 1.0)


def import_jem(src: str | Path, out: str | Path, dataset: str | None = None,
               input_shape: tuple[int, int, int] | None = None) -> Path:
    """Convert JEM checkpoint ``src`` into an ebmbench checkpoint at ``out``; returns ``out``."""
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
        raise CheckpointError(f"{src}: model_state_dict is not JEM's CCF Wide ResNet ({exc})") from None
    dataset, shape = dataset_defaults(dataset, input_shape, int(arch["num_classes"]), int(arch["in_channels"]))
    info = ModelInfo(family="jem", dataset=dataset, input_shape=shape, num_classes=int(arch["num_classes"]),
                     conditional=True)
    config = {"arch": "wrn", "depth": arch["depth"], "width": arch["width"], "norm": arch["norm"],
              "input_range": list(INPUT_RANGE)}
    model = JEM(info, config)
    check_weights(model, {f"net.{k}": v for k, v in state.items()}, src)
    buffer = _buffer_state(content.get("replay_buffer"), shape, src)
    training = {"imported_from": {"format": "jem", "file": src.name, "sha256": file_sha256(src),
                                  "architecture": f"WRN-{arch['depth']}-{arch['width']}", "norm": arch["norm"],
                                  "replay_buffer": int(buffer["state.buffer.meta"][0]) if buffer else 0}}
    return save_checkpoint(out, model, training=training, state=buffer)


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
