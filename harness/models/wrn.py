"""The Wide ResNet of JEM (Grathwohl et al. 2019), written from the WRN paper (Zagoruyko & Komodakis 2016) and
JEM's published layer names, so that JEM's checkpoints load into it key for key.

WRN-d-k: a 3x3 stem of 16 channels, then three stages of n = (d - 4) / 6 pre-activation blocks with 16k, 32k
and 64k channels (the second and third stage halve the resolution in their first block), a final
norm + leaky ReLU and global average pooling. Each block is norm -> leaky ReLU -> 3x3 conv -> norm ->
leaky ReLU -> 3x3 conv (strided), plus a shortcut (a strided 1x1 conv where the shape changes). JEM uses no
normalisation by default and leaky ReLU with slope 0.2. The backbone also carries JEM's unused ``linear``
layer (10 outputs), which their checkpoints contain.

``CCFNet`` is JEM's classifier-as-EBM: backbone ``f``, an ``energy_output`` head (1 output, used only by their
unconditional variant) and a ``class_output`` head whose outputs are the logits f(x)[y] = -E(x, y).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("none", "batch")
LEAK = 0.2


def _norm(channels: int, norm: str) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels, momentum=0.9)
    return nn.Identity()


class WideBlock(nn.Module):
    """A pre-activation residual block; the stride sits on the second convolution, as in JEM's code."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.bn1 = _norm(c_in, norm)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn2 = _norm(c_out, norm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=stride, padding=1)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut.append(nn.Conv2d(c_in, c_out, 1, stride=stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.bn1(x), LEAK))
        h = self.conv2(F.leaky_relu(self.bn2(h), LEAK))
        return h + self.shortcut(x)


class WideResNet(nn.Module):
    """WRN-``depth``-``width`` feature extractor: images -> ``last_dim`` features (global average pooled)."""

    def __init__(self, depth: int, width: int, in_channels: int = 3, norm: str = "none") -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), not {depth}")
        if width < 1:
            raise ValueError(f"WRN width must be at least 1, not {width}")
        if norm not in NORMS:
            raise ValueError(f"WRN norm must be one of {', '.join(NORMS)}, not {norm!r}")
        n = (depth - 4) // 6
        stages = [16, 16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(in_channels, stages[0], 3, padding=1)
        c_in = stages[0]
        for i, (c_out, stride) in enumerate(zip(stages[1:], (1, 2, 2), strict=True), start=1):
            blocks = []
            for j in range(n):
                blocks.append(WideBlock(c_in, c_out, stride if j == 0 else 1, norm))
                c_in = c_out
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.bn1 = _norm(c_in, norm)
        self.last_dim = c_in
        self.linear = nn.Linear(c_in, 10)  # present (unused) in JEM's checkpoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return F.leaky_relu(self.bn1(h), LEAK).mean(dim=(2, 3))


class CCFNet(nn.Module):
    """JEM's model: ``f`` (a WRN), ``energy_output`` and ``class_output``; ``forward`` returns the logits."""

    def __init__(self, depth: int, width: int, in_channels: int, num_classes: int, norm: str = "none") -> None:
        super().__init__()
        self.f = WideResNet(depth, width, in_channels, norm)
        self.energy_output = nn.Linear(self.f.last_dim, 1)
        self.class_output = nn.Linear(self.f.last_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_output(self.f(x))


def infer_wrn(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """Depth, width, input channels, classes and norm of a CCF state dict (keys without a prefix).

    Raises ValueError naming what does not fit a JEM WRN."""
    need = ("f.conv1.weight", "class_output.weight", "f.layer1.0.conv1.weight")
    if missing := [k for k in need if k not in state]:
        raise ValueError(f"no {', '.join(missing)}")
    blocks = {int(k.split(".")[2]) for k in state if k.startswith("f.layer1.") and k.endswith(".conv1.weight")}
    if blocks != set(range(len(blocks))):
        raise ValueError("layer1's blocks are not numbered 0..n-1")
    stem = state["f.conv1.weight"]
    first = state["f.layer1.0.conv1.weight"]
    if stem.dim() != 4 or first.dim() != 4 or first.shape[0] % 16:
        raise ValueError(f"f.layer1.0.conv1.weight has shape {tuple(first.shape)}, not (16k, 16, 3, 3)")
    norm = "batch" if "f.bn1.running_mean" in state else "none"
    return {"depth": 6 * len(blocks) + 4, "width": first.shape[0] // 16, "in_channels": int(stem.shape[1]),
            "num_classes": int(state["class_output.weight"].shape[0]), "norm": norm}
