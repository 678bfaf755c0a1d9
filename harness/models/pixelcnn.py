"""PixelCNN++ (Salimans et al. 2017): an autoregressive likelihood baseline for the OOD suite, written here.

Two streams of gated residual blocks see only the pixels before the current one in raster order: the ``u``
stream sees the rows above (convolutions shifted down), the ``ul`` stream the rows above and the pixels to the
left (shifted down and right). That causal masking is done by padding and shifting rather than by zeroed
weights. Optional extra resolutions (strided down-, transposed up-convolutions with skip connections) widen the
receptive field for 32x32 images. Each pixel gets a mixture of discretized logistics over ``bins`` levels; the
colour channels of a pixel depend on the preceding ones through linear mean coefficients.

``log_prob(x)`` is log P(levels of x) + D log(bins): the cell-uniform density on [0, 1]^D of
``ebmbench.models.dequantize``, in nats, directly comparable with Glow's.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ebmbench.models.base import Capability, Model, ModelInfo
from ebmbench.models.dequantize import DEFAULT_BINS, bits_per_dim, levels


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down (the top row becomes zeros): row i then holds what row i - 1 saw."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every column one right (the first column becomes zeros)."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    return F.elu(torch.cat([x, -x], 1))


class DownShiftedConv(nn.Module):
    """Output (i, j) sees rows i - kh + 1 .. i and columns centred on j: nothing below the current row."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int] = (2, 3), stride: int = 1) -> None:
        super().__init__()
        kh, kw = kernel
        self.pad = ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad))


class DownRightShiftedConv(nn.Module):
    """Output (i, j) sees rows i - kh + 1 .. i and columns j - kw + 1 .. j: nothing below or to the right."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int] = (2, 2), stride: int = 1) -> None:
        super().__init__()
        kh, kw = kernel
        self.pad = (kw - 1, 0, kh - 1, 0)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad))


class DownShiftedDeconv(nn.Module):
    """2x upsampling whose output rows 2i and 2i + 1 come from input row i only (keeps the u stream causal)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, (2, 3), stride=2, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        return self.deconv(x)[:, :, :2 * h, 1:2 * w + 1]


class DownRightShiftedDeconv(nn.Module):
    """2x upsampling where output (2i + a, 2j + b) comes from input (i, j) only (keeps the ul stream causal)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, (2, 2), stride=2, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        return self.deconv(x)[:, :, :2 * h, :2 * w]


class GatedResnet(nn.Module):
    """x + a * sigmoid(b), where (a, b) come from two shifted convolutions of x and an optional skip input."""

    def __init__(self, channels: int, conv: type[nn.Module], skip: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv_in = conv(2 * channels, channels)
        self.skip = nn.Conv2d(2 * skip, channels, 1) if skip else None
        self.dropout = nn.Dropout(dropout)
        self.conv_out = conv(2 * channels, 2 * channels)

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv_in(concat_elu(x))
        if self.skip is not None and a is not None:
            h = h + self.skip(concat_elu(a))
        h = self.conv_out(self.dropout(concat_elu(h)))
        value, gate = h.chunk(2, dim=1)
        return x + value * torch.sigmoid(gate)


class PixelCNNNet(nn.Module):
    """The two-stream network: centred images (B, C, H, W) in [-1, 1] -> mixture parameters per pixel, where
    the parameters at pixel (i, j) depend only on pixels before (i, j) in raster order."""

    def __init__(self, channels: int, out_channels: int, filters: int, nr_resnet: int, resolutions: int,
                 dropout: float) -> None:
        super().__init__()
        f = filters
        self.u_init = DownShiftedConv(channels + 1, f, (2, 3))
        self.ul_init_up = DownShiftedConv(channels + 1, f, (1, 3))
        self.ul_init_left = DownRightShiftedConv(channels + 1, f, (2, 1))
        n = resolutions * nr_resnet
        self.up_u = nn.ModuleList(GatedResnet(f, DownShiftedConv, 0, dropout) for _ in range(n))
        self.up_ul = nn.ModuleList(GatedResnet(f, DownRightShiftedConv, f, dropout) for _ in range(n))
        self.down_u = nn.ModuleList(GatedResnet(f, DownShiftedConv, f, dropout) for _ in range(n))
        self.down_ul = nn.ModuleList(GatedResnet(f, DownRightShiftedConv, 2 * f, dropout) for _ in range(n))
        self.shrink_u = nn.ModuleList(DownShiftedConv(f, f, (2, 3), stride=2) for _ in range(resolutions - 1))
        self.shrink_ul = nn.ModuleList(DownRightShiftedConv(f, f, (2, 2), stride=2) for _ in range(resolutions - 1))
        self.grow_u = nn.ModuleList(DownShiftedDeconv(f, f) for _ in range(resolutions - 1))
        self.grow_ul = nn.ModuleList(DownRightShiftedDeconv(f, f) for _ in range(resolutions - 1))
        self.nr_resnet, self.resolutions = nr_resnet, resolutions
        self.head = nn.Conv2d(f, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, torch.ones_like(x[:, :1])], 1)  # a constant channel marks the image against padding
        u = down_shift(self.u_init(x))
        ul = down_shift(self.ul_init_up(x)) + right_shift(self.ul_init_left(x))
        skips: list[tuple[torch.Tensor, torch.Tensor]] = []
        for level in range(self.resolutions):
            for k in range(level * self.nr_resnet, (level + 1) * self.nr_resnet):
                u = self.up_u[k](u)
                ul = self.up_ul[k](ul, u)
                skips.append((u, ul))
            if level < self.resolutions - 1:
                u, ul = self.shrink_u[level](u), self.shrink_ul[level](ul)
        for level in reversed(range(self.resolutions)):
            for k in range(level * self.nr_resnet, (level + 1) * self.nr_resnet):
                skip_u, skip_ul = skips.pop()
                u = self.down_u[k](u, skip_u)
                ul = self.down_ul[k](ul, torch.cat([u, skip_ul], 1))
            if level > 0:
                u, ul = self.grow_u[level - 1](u), self.grow_ul[level - 1](ul)
        return self.head(F.elu(ul))


def mixture_channels(channels: int, nr_mix: int) -> int:
    """Parameters per pixel: per component a weight logit, a mean and log-scale per channel, and the
    coefficients that let each channel's mean depend on the channels before it."""
    return nr_mix * (1 + 2 * channels + channels * (channels - 1) // 2)


def discretized_logistic_mixture(params: torch.Tensor, x_levels: torch.Tensor, nr_mix: int, bins: int
                                 ) -> torch.Tensor:
    """log P(levels) per pixel, shape (B, H, W), for levels (B, C, H, W) in 0 .. bins - 1.

    Level k is the interval [-1 + 2k/bins, -1 + 2(k+1)/bins) of [-1, 1]; the outermost levels take the
    logistic's tails, so the probabilities of all levels sum to one.
    """
    b, c, h, w = x_levels.shape
    p = params.view(b, nr_mix, -1, h, w)
    logit_weights = p[:, :, 0]
    means, log_scales = p[:, :, 1:1 + c], p[:, :, 1 + c:1 + 2 * c].clamp(min=-7.0)
    coeffs = torch.tanh(p[:, :, 1 + 2 * c:])
    x = ((2 * x_levels + 1) / bins - 1).unsqueeze(1)  # level centres in [-1, 1], (B, 1, C, H, W)
    means = _condition_means(means, coeffs, x, c)
    centred = x - means
    inv_s = torch.exp(-log_scales)
    plus, minus = inv_s * (centred + 1 / bins), inv_s * (centred - 1 / bins)
    log_cdf_plus = plus - F.softplus(plus)  # log sigmoid(plus): the bottom level's probability
    log_sf_minus = -F.softplus(minus)  # log (1 - sigmoid(minus)): the top level's probability
    delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = inv_s * centred
    log_pdf_mid = mid - log_scales - 2 * F.softplus(mid) + math.log(2 / bins)  # for cells too thin to difference
    log_mid = torch.where(delta > 1e-5, torch.log(delta.clamp(min=1e-12)), log_pdf_mid)
    lv = x_levels.unsqueeze(1)
    log_p = torch.where(lv <= 0, log_cdf_plus, torch.where(lv >= bins - 1, log_sf_minus, log_mid))
    return torch.logsumexp(log_p.sum(2) + F.log_softmax(logit_weights, dim=1), dim=1)


def _condition_means(means: torch.Tensor, coeffs: torch.Tensor, x: torch.Tensor, c: int) -> torch.Tensor:
    """Channel k's mean plus a learned linear function of the (observed) channels 0 .. k - 1 of the pixel."""
    out, t = [means[:, :, 0]], 0
    for k in range(1, c):
        shift = sum(coeffs[:, :, t + j] * x[:, :, j] for j in range(k))
        out.append(means[:, :, k] + shift)
        t += k
    return torch.stack(out, 2)


class PixelCNN(Model):
    """PixelCNN++: gated shifted-convolution streams and a discretized logistic mixture; log p(x) in nats."""

    family: ClassVar[str] = "pixelcnn"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.LOG_PROB})

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        super().__init__(info, config)
        c, h, w = info.input_shape
        self.bins = int(config.get("bins", DEFAULT_BINS))
        self.nr_mix = int(config["nr_mix"])
        resolutions = int(config.get("resolutions", 1))
        if resolutions < 1 or h % 2 ** (resolutions - 1) or w % 2 ** (resolutions - 1):
            raise ValueError(f"pixelcnn with {resolutions} resolutions needs height and width divisible by "
                             f"{2 ** (resolutions - 1)}, not {h}x{w}")
        self.net = PixelCNNNet(c, mixture_channels(c, self.nr_mix), int(config["filters"]),
                               int(config["nr_resnet"]), resolutions, float(config.get("dropout", 0.0)))

    def pixel_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log P of each pixel's levels given the pixels before it, shape (B, H, W)."""
        lv = levels(x, self.bins)
        params = self.net((2 * lv + 1) / self.bins - 1)
        return discretized_logistic_mixture(params, lv, self.nr_mix, self.bins)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log P(levels of x) + D log(bins): the cell-uniform density on [0, 1]^D, nats per image."""
        dims = x[0].numel()
        return self.pixel_log_probs(x).flatten(1).sum(1) + dims * math.log(self.bins)

    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Bits per dimension of the data at this model's ``bins`` levels."""
        return bits_per_dim(self.log_prob(x), x[0].numel(), self.bins)
