"""Device choice and seeding, the same on CPU and CUDA."""

from __future__ import annotations

import random

import numpy as np
import torch

from ebmbench.errors import EbmbenchError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise EbmbenchError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise EbmbenchError(f"--device {name} was asked for but no CUDA device is available; use --device cpu")
        if device.index is not None and device.index >= count:
            raise EbmbenchError(f"--device {name}: there are only {count} CUDA device(s) (cuda:0 to cuda:{count - 1})")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so runs repeat; on CUDA also ask cuDNN for deterministic
    algorithms (without them two identical Langevin passes can differ in the last bits)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def device_details(device: torch.device) -> dict[str, object]:
    """What a run's numbers may depend on beyond the seed: the accelerator, its libraries and TF32 use."""
    if device.type != "cuda":
        return {"device": str(device)}
    index = device.index if device.index is not None else torch.cuda.current_device()
    return {"device": str(device), "gpu": torch.cuda.get_device_name(index), "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "cudnn_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_tf32": torch.backends.cuda.matmul.allow_tf32}
