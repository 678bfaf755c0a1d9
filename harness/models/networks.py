"""Energy and classifier networks: the paper's ResNet (width and depth configurable) and a small net for 8x8
digits. Both can be class-conditional (the label sets a per-channel scale and bias after each convolution) and
spectrally normalised."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

ACTIVATIONS = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "swish": nn.SiLU, "relu": nn.ReLU}


class LabelModulation(nn.Module):
    """Per-channel scale and bias chosen by the label: h * (1 + gain[y]) + bias[y]; identity without labels."""

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            return h
        return h * (1 + self.gain(y)[:, :, None, None]) + self.bias(y)[:, :, None, None]


def _maybe_sn(layer: nn.Module, enabled: bool) -> nn.Module:
    return _spectral_norm(layer) if enabled else layer


def _modulation(num_cond: int, channels: int) -> nn.Module | None:
    return LabelModulation(num_cond, channels) if num_cond > 0 else None


def _modulate(mod: nn.Module | None, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return mod(h, y) if mod is not None else h


class SmallConvNet(nn.Module):
    """Three convolutions and a linear head: trains on the 8x8 digits in minutes on a CPU."""

    def __init__(self, in_channels: int, out_dim: int = 1, width: int = 64, num_cond: int = 0,
                 spectral_norm: bool = False, activation: str = "swish") -> None:
        super().__init__()
        chans = [in_channels, width, 2 * width, 2 * width]
        strides = [1, 2, 2]
        self.convs = nn.ModuleList(
            _maybe_sn(nn.Conv2d(chans[i], chans[i + 1], 3, stride=strides[i], padding=1), spectral_norm)
            for i in range(3))
        self.mods = nn.ModuleList(_modulation(num_cond, c) or nn.Identity() for c in chans[1:])
        self.conditional = num_cond > 0
        self.act = ACTIVATIONS[activation]()
        self.head = _maybe_sn(nn.Linear(chans[-1], out_dim), spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for conv, mod in zip(self.convs, self.mods, strict=True):
            h = conv(h)
            if self.conditional:
                h = mod(h, y)
            h = self.act(h)
        return self.head(h.mean(dim=(2, 3)))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with label modulation and a (1x1 when widths differ) shortcut."""

    def __init__(self, c_in: int, c_out: int, num_cond: int, spectral_norm: bool, activation: str) -> None:
        super().__init__()
        self.conv1 = _maybe_sn(nn.Conv2d(c_in, c_out, 3, padding=1), spectral_norm)
        self.conv2 = _maybe_sn(nn.Conv2d(c_out, c_out, 3, padding=1), spectral_norm)
        self.mod1, self.mod2 = _modulation(num_cond, c_out), _modulation(num_cond, c_out)
        self.shortcut = (_maybe_sn(nn.Conv2d(c_in, c_out, 1), spectral_norm) if c_in != c_out else nn.Identity())
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = self.act(_modulate(self.mod1, self.conv1(x), y))
        h = _modulate(self.mod2, self.conv2(h), y)
        return self.act(self.shortcut(x) + h)


class ResNetEnergy(nn.Module):
    """The reference paper's ResNet: stages of residual blocks with 2x average-pool downsampling between
    them, global sum pooling and a linear head. ``multipliers`` sets each stage's width relative to ``width``."""

    def __init__(self, in_channels: int, out_dim: int = 1, width: int = 128, multipliers: tuple[int, ...] = (1, 2, 2),
                 blocks_per_stage: int = 2, num_cond: int = 0, spectral_norm: bool = True,
                 activation: str = "leaky_relu") -> None:
        super().__init__()
        self.stem = _maybe_sn(nn.Conv2d(in_channels, width, 3, padding=1), spectral_norm)
        blocks: list[nn.Module] = []
        c_in = width
        for stage, mult in enumerate(multipliers):
            for _ in range(blocks_per_stage):
                blocks.append(ResBlock(c_in, width * mult, num_cond, spectral_norm, activation))
                c_in = width * mult
            if stage < len(multipliers) - 1:
                blocks.append(nn.AvgPool2d(2))
        self.blocks = nn.ModuleList(blocks)
        self.act = ACTIVATIONS[activation]()
        self.head = _maybe_sn(nn.Linear(c_in, out_dim), spectral_norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, y) if isinstance(block, ResBlock) else block(h)
        return self.head(self.act(h).sum(dim=(2, 3)))


ARCH_PRESETS: dict[str, dict[str, Any]] = {
    "small": {"arch": "small", "width": 32, "spectral_norm": False, "activation": "swish"},
    "resnet": {"arch": "resnet", "width": 64, "multipliers": [1, 2], "blocks_per_stage": 1,
               "spectral_norm": True, "activation": "leaky_relu"},
    # The CIFAR-10 configuration of Du & Mordatch (2019): 128 filters, three stages of two residual blocks.
    "igebm-cifar10": {"arch": "resnet", "width": 128, "multipliers": [1, 2, 2], "blocks_per_stage": 2,
                      "spectral_norm": True, "activation": "leaky_relu"},
}


def build_network(config: dict[str, Any], in_channels: int, out_dim: int, num_cond: int) -> nn.Module:
    """Build the network a config describes (``arch`` is ``small`` or ``resnet``)."""
    check_network_config(config)
    kw = {k: v for k, v in config.items() if k not in {"arch"}}
    if config["arch"] == "small":
        return SmallConvNet(in_channels, out_dim, num_cond=num_cond, **kw)
    if config["arch"] == "resnet":
        kw["multipliers"] = tuple(kw.get("multipliers", (1, 2, 2)))
        return ResNetEnergy(in_channels, out_dim, num_cond=num_cond, **kw)
    raise ValueError(f"unknown arch {config['arch']!r}")


CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "arch": str, "width": int, "multipliers": (list, tuple), "blocks_per_stage": int, "spectral_norm": bool,
    "activation": str}


def check_network_config(config: dict[str, Any]) -> None:
    """A ValueError naming the first field of the wrong type or range (configs come from checkpoint files)."""
    for key, value in config.items():
        kind = CONFIG_TYPES.get(key, object)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            name = "list" if isinstance(kind, tuple) else kind.__name__
            raise ValueError(f"network field {key!r} must be {name}, not {value!r:.40}")
        if kind is int and value < 1:
            raise ValueError(f"network field {key!r} must be >= 1, not {value}")
    if config.get("activation", "swish") not in ACTIVATIONS:
        raise ValueError(f"unknown activation {config['activation']!r:.40}; one of {', '.join(ACTIVATIONS)}")
    if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in config.get("multipliers", [1])):
        raise ValueError("network field 'multipliers' must be a list of integers >= 1")


def resolve_arch(name: str, **overrides: Any) -> dict[str, Any]:
    """A preset's network config with explicit overrides applied (None values are ignored)."""
    from ebmbench.errors import EbmbenchError

    if name not in ARCH_PRESETS:
        raise EbmbenchError(f"unknown arch {name!r}; choose one of {', '.join(ARCH_PRESETS)}")
    config = dict(ARCH_PRESETS[name])
    config.update({k: v for k, v in overrides.items() if v is not None})
    return config
