"""Glow (Kingma & Dhariwal 2018): a multi-scale normalizing flow, the likelihood baseline of the OOD suite.

Each scale squeezes 2x2 pixels into channels and applies ``steps`` flow steps (actnorm, invertible 1x1
convolution, affine coupling); every scale but the last then factors out half of its channels under a Gaussian
whose mean and scale are predicted from the kept half (the learned split prior). The last scale's latents have a
learned Gaussian prior. Written here rather than taken from normflows: normflows' blocks fit both 1x8x8 and
3x32x32 inputs, but its multi-scale model gives each scale an independent base distribution, not Glow's learned
split prior, and it inverts the 1x1 convolution in double precision on every density evaluation.

``log_prob(x)`` is the density on [0, 1]^D (nats) at the centre of each value's dequantization cell, following
``ebmbench.models.dequantize``; training uses uniform dequantization inside the same cells.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ebmbench.models.base import Capability, Model, ModelInfo
from ebmbench.models.dequantize import DEFAULT_BINS, bin_centres, bits_per_dim, uniform_dequantize

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Per-example log N(z; mean, exp(log_std)^2), summed over all but the batch dimension."""
    return (-0.5 * (LOG_2PI + 2 * log_std + (z - mean) ** 2 * torch.exp(-2 * log_std))).flatten(1).sum(1)


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block of pixels becomes four channels."""
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    """The inverse of ``squeeze``."""
    b, c, h, w = x.shape
    return x.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(b, c // 4, 2 * h, 2 * w)


class ZeroConv(nn.Conv2d):
    """A 3x3 convolution initialised to zero, so every flow starts as (nearly) the identity."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, 3, padding=1)
        nn.init.zeros_(self.weight)
        nn.init.zeros_(self.bias)


class ActNorm(nn.Module):
    """Per-channel affine map, initialised from the first training batch to zero mean and unit variance."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.zeros(()))
        self._ready = False  # mirrors the buffer once read, so training forwards do not sync with the GPU

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        self.loc.copy_(-x.mean(dim=(0, 2, 3), keepdim=True))
        self.log_scale.copy_(-torch.log(x.std(dim=(0, 2, 3), keepdim=True) + 1e-6))
        self.initialized.fill_(1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not self._ready:
            if not bool(self.initialized):
                self._initialize(x)
            self._ready = True
        logdet = self.log_scale.sum() * x.shape[2] * x.shape[3]
        return (x + self.loc) * torch.exp(self.log_scale), logdet.expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.log_scale) - self.loc


class InvConv1x1(nn.Module):
    """An invertible 1x1 convolution in LU form, W = P L (U + diag(sign * exp(log_s))): log|det W| is sum(log_s)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        q = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(q)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))
        self.register_buffer("strict_lower", torch.tril(torch.ones(channels, channels), -1), persistent=False)

    def weight(self) -> torch.Tensor:
        eye = torch.eye(len(self.log_s), device=self.log_s.device)
        lower = self.lower * self.strict_lower + eye
        upper = self.upper * self.strict_lower.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weight()
        logdet = self.log_s.sum() * x.shape[2] * x.shape[3]
        return F.conv2d(x, w[:, :, None, None]), logdet.expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(z, torch.linalg.inv(self.weight())[:, :, None, None])


class AffineCoupling(nn.Module):
    """The second half of the channels is scaled and shifted by a network of the first half."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.keep = channels // 2
        self.net = nn.Sequential(nn.Conv2d(self.keep, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 1), nn.ReLU(), ZeroConv(hidden, 2 * (channels - self.keep)))

    def _shift_scale(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(xa)
        return h[:, 0::2], torch.sigmoid(h[:, 1::2] + 2.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x[:, :self.keep], x[:, self.keep:]
        shift, scale = self._shift_scale(xa)
        return torch.cat([xa, (xb + shift) * scale], 1), torch.log(scale).flatten(1).sum(1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        za, zb = z[:, :self.keep], z[:, self.keep:]
        shift, scale = self._shift_scale(za)
        return torch.cat([za, zb / scale - shift], 1)


class FlowStep(nn.Module):
    """actnorm -> invertible 1x1 convolution -> affine coupling."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvConv1x1(channels), AffineCoupling(channels, hidden)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.zeros(len(x), device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


class Scale(nn.Module):
    """Squeeze and ``steps`` flow steps; every scale but the last then factors out half of its channels, whose
    density is a Gaussian predicted from the kept half (the split prior)."""

    def __init__(self, channels: int, steps: int, hidden: int, last: bool) -> None:
        super().__init__()
        c = 4 * channels
        self.steps = nn.ModuleList(FlowStep(c, hidden) for _ in range(steps))
        self.keep = c if last else c // 2
        self.prior = None if last else ZeroConv(self.keep, 2 * (c - self.keep))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Squeeze and flow: (the scale's output, log |det| of its Jacobian)."""
        h = squeeze(x)
        total = torch.zeros(len(x), device=x.device)
        for step in self.steps:
            h, ld = step(h)
            total = total + ld
        return h, total

    def split(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(kept channels, factored-out channels or None for the last scale)."""
        return (h, None) if self.prior is None else (h[:, :self.keep], h[:, self.keep:])

    def prior_params(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-std of the factored-out half given the kept half."""
        p = self.prior(kept)
        return p[:, 0::2], p[:, 1::2]

    def inverse(self, kept: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        h = kept if out is None else torch.cat([kept, out], 1)
        for step in reversed(self.steps):
            h = step.inverse(h)
        return unsqueeze(h)


class Glow(Model):
    """Multi-scale Glow with learned split priors; ``log_prob`` in nats on [0, 1]^D (see module doc)."""

    family: ClassVar[str] = "glow"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LOG_PROB})

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        super().__init__(info, config)
        c, h, w = info.input_shape
        levels, steps, hidden = int(config["levels"]), int(config["steps"]), int(config["hidden"])
        self.bins = int(config.get("bins", DEFAULT_BINS))
        if levels < 1 or h % 2**levels or w % 2**levels:
            raise ValueError(f"glow with {levels} levels needs height and width divisible by {2**levels}, "
                             f"not {h}x{w}")
        self.scales = nn.ModuleList()
        for level in range(levels):
            last = level == levels - 1
            self.scales.append(Scale(c, steps, hidden, last))
            c = 4 * c if last else 2 * c
        top = (c, h // 2**levels, w // 2**levels)
        self.top_mean = nn.Parameter(torch.zeros(top))
        self.top_log_std = nn.Parameter(torch.zeros(top))

    def encode(self, h: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Centred data -> (latents: one factored half per scale and the top; the kept halves they are
        conditioned on; log |det| of the whole bijection)."""
        zs, kept, total = [], [], torch.zeros(len(h), device=h.device)
        for scale in self.scales:
            h, ld = scale(h)
            total = total + ld
            h, out = scale.split(h)
            if out is not None:
                zs.append(out)
                kept.append(h)
        zs.append(h)
        return zs, kept, total

    def decode(self, zs: list[torch.Tensor]) -> torch.Tensor:
        """The inverse of ``encode``: latents -> centred data."""
        h = zs[-1]
        outs = iter(reversed(zs[:-1]))
        for scale in reversed(self.scales):
            h = scale.inverse(h, None if scale.prior is None else next(outs))
        return h

    def log_density(self, h: torch.Tensor) -> torch.Tensor:
        """log p(h) in nats for real-valued ``h`` (data minus 0.5), by the change of variables."""
        zs, kept, total = self.encode(h)
        priors = [scale for scale in self.scales if scale.prior is not None]
        for scale, z, k in zip(priors, zs[:-1], kept, strict=True):
            total = total + gaussian_log_prob(z, *scale.prior_params(k))
        return total + gaussian_log_prob(zs[-1], self.top_mean, self.top_log_std)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Density on [0, 1]^D at the centre of each value's dequantization cell (nats per image)."""
        return self.log_density(bin_centres(x, self.bins) - 0.5)

    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Bits per dimension of the data at this model's ``bins`` levels."""
        return bits_per_dim(self.log_prob(x), x[0].numel(), self.bins)

    def train_log_prob(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The training objective's log-density: uniform dequantization inside the same cells."""
        return self.log_density(uniform_dequantize(x, self.bins, generator) - 0.5)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Images in [0, 1] drawn through the inverse flow (prior standard deviations scaled by ``temperature``)."""
        mean = self.top_mean.expand(n, *self.top_mean.shape)
        h = mean + temperature * torch.exp(self.top_log_std) * torch.randn_like(mean)
        for scale in reversed(self.scales):
            out = None
            if scale.prior is not None:
                m, log_std = scale.prior_params(h)
                out = m + temperature * torch.exp(log_std) * torch.randn_like(m)
            h = scale.inverse(h, out)
        return (h + 0.5).clamp(0, 1)
