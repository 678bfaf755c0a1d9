"""The Wide ResNet of JEM (Grathwohl et al. 2019), written from the WRN paper (Zagoruyko & Komodakis 2016) and
JEM's published layer names, so that JEM's checkpoints load into it key for key.

WRN-d-k: a 3x3 stem of 16 channels, then three stages of n = (d - 4) / 6 pre-activation blocks with 16k, 32k
and 64k channels (the second and third stage halve the resolution in their first block), a final
norm + leaky ReLU and global average pooling. Each block is norm -> leaky ReLU -> 3x3 conv -> norm ->
leaky ReLU -> 3x3 conv (strided), plus a shortcut (a strided 1x1 conv where the shape changes). JEM uses no
normalisation by default and leaky ReLU with slope 0.2. The backbone also carries JEM's unused ``linear``
layer (10 outputs), which their checkpoints contain.

The normalisations are JEM's ``--norm`` choices: ``none``, ``batch`` (BatchNorm2d, running statistics),
``instance`` (InstanceNorm2d with a per-channel affine, statistics of each image), ``layer`` (GroupNorm with one
group: statistics over all channels of each image) and ``act`` (``ActNorm``, a learned per-channel affine).
``instance`` and ``layer`` hold the same tensors (weight and bias per channel), so a state dict alone cannot
tell them apart (``norms_fitting``).

``CCFNet`` is JEM's classifier-as-EBM: backbone ``f``, an ``energy_output`` head (1 output, the log-density of
their unconditional variant F: E(x) = -energy_output(f(x))) and a ``class_output`` head whose outputs are the
logits f(x)[y] = -E(x, y).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("none", "batch", "instance", "layer", "act")
LEAK = 0.2


class ActNorm(nn.Module):
    """JEM's activation normalisation (from Glow) as a trained model evaluates it: y = scale * (x + loc), one
    ``loc`` and ``scale`` per channel, shaped (1, C, 1, 1) as in JEM's checkpoints.

    JEM sets ``loc`` and ``scale`` from the first batch it sees (the channels' mean and standard deviation)
    and marks the layer done in its ``initialized`` buffer. This module never does that data-dependent
    start: it is for weights that are already trained, and keeps the buffer (at 1) so the keys match."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(1, dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x + self.loc)


def _norm(channels: int, norm: str) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(channels, momentum=0.9)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if norm == "layer":
        return nn.GroupNorm(1, channels)
    if norm == "act":
        return ActNorm(channels)
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
        self.norm = norm
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
    """JEM's model: ``f`` (a WRN), ``energy_output`` and ``class_output``; ``forward`` returns the logits and
    ``log_density`` the unconditional head's output (JEM's F: -E(x))."""

    def __init__(self, depth: int, width: int, in_channels: int, num_classes: int, norm: str = "none") -> None:
        super().__init__()
        self.f = WideResNet(depth, width, in_channels, norm)
        self.energy_output = nn.Linear(self.f.last_dim, 1)
        self.class_output = nn.Linear(self.f.last_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_output(self.f(x))

    def log_density(self, x: torch.Tensor) -> torch.Tensor:
        """``energy_output(f(x))``, one number per image: what JEM's F returns, log p(x) up to a constant."""
        return self.energy_output(self.f(x)).squeeze(1)


# what each normalisation leaves in a state dict, under the backbone's final norm (``f.bn1``)
NORM_KEYS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "batch": frozenset({"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}),
    "instance": frozenset({"weight", "bias"}),
    "layer": frozenset({"weight", "bias"}),
    "act": frozenset({"loc", "scale", "initialized"}),
}


def norms_fitting(state: dict[str, torch.Tensor]) -> tuple[str, ...]:
    """The normalisations whose tensors are exactly those of the state dict's final norm ``f.bn1`` (two for
    weight and bias alone: ``instance`` and ``layer``; none when nothing fits)."""
    held = {k[len("f.bn1."):] for k in state if k.startswith("f.bn1.")}
    # num_batches_tracked is absent from checkpoints written before PyTorch 0.4.1
    return tuple(n for n, keys in NORM_KEYS.items() if held == keys or (n == "batch" and held == keys - {
        "num_batches_tracked"}))


def infer_wrn(state: dict[str, torch.Tensor]) -> dict[str, object]:
    """Depth, width, input channels, classes and the normalisations that fit (``norms``) of a CCF state dict
    (keys without a prefix).

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
    norms = norms_fitting(state)
    if not norms:
        held = ", ".join(sorted(k for k in state if k.startswith("f.bn1."))) or "nothing"
        raise ValueError(f"its final norm f.bn1 holds {held}, which is none of JEM's normalisations")
    return {"depth": 6 * len(blocks) + 4, "width": first.shape[0] // 16, "in_channels": int(stem.shape[1]),
            "num_classes": int(state["class_output.weight"].shape[0]), "norms": norms}
