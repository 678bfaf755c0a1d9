"""Read weights a user brings: a safetensors file, or a torch file read with ``torch.load(weights_only=True)``.

``weights_only`` unpickles only tensors, plain containers and numbers; a file that needs anything else (a
class, a function: what a pickle payload uses to run code) is refused with one line naming the first object
it asked for, and nothing in it runs.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from ebmbench.errors import CheckpointError

_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def read_weights(path: str | Path) -> Any:
    """The file's content: a dict of tensors (safetensors) or whatever plain structure the torch file holds."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}; check the path")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK") or head[:2] in _PICKLE_PROTOCOLS:
        return _torch_load(path)
    return _safetensors_load(path)


def _safetensors_load(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors' own error types
        raise CheckpointError(f"{path} is neither a torch file nor a readable safetensors file "
                              f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} needs full unpickling to load ({_first_global(str(exc))}), which could "
                              "run code stored in it; ebmbench reads torch files only with "
                              "torch.load(weights_only=True): re-save the weights alone with "
                              "torch.save(model.state_dict(), ...) or as safetensors") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is a damaged torch file ({str(exc).splitlines()[0]})") from None


def _first_global(message: str) -> str:
    """What the file asked the unpickler for, from torch's multi-line message."""
    found = re.search(r"(Unsupported global: GLOBAL [\w.]+|Unsupported operand \d+|[Uu]nsupported class [\w.]+)",
                      message)
    return found.group(1) if found else message.strip().splitlines()[0][:160]


def state_dict_of(content: Any, path: str | Path, keys: tuple[str, ...] = ("state_dict", "model_state_dict")
                  ) -> dict[str, torch.Tensor]:
    """The tensors of a state dict: the content itself, or its ``state_dict`` / ``model_state_dict`` entry;
    a ``module.`` prefix (DataParallel) is dropped."""
    if isinstance(content, dict):
        for key in keys:
            if isinstance(content.get(key), dict):
                content = content[key]
                break
    if not isinstance(content, dict) or not content or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in content.items()):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of names to tensors"
                              f"{', or one under ' + ' / '.join(keys) if keys else ''})")
    if all(k.startswith("module.") for k in content):
        content = {k[len("module."):]: v for k, v in content.items()}
    return dict(content)
