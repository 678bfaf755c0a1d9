"""Corruptions of clean images for the restoration suite, each named ``KIND:LEVEL`` (its eval set in records).

Noise (every pixel may be wrong; nothing is known to be right):

- ``gaussian:S``: additive N(0, S^2) noise per pixel, then clipped to the data range.
- ``salt-pepper:P``: each pixel, with probability P, set to the range's low or high end (even odds), all
  channels alike.

Masks (some pixels are missing; the rest are known exactly and restoration keeps them fixed):

- ``box:F``: a centred box of round(F * H) x round(F * W) pixels is missing.
- ``pixels:P``: each pixel is missing with probability P, independently.
- ``half:SIDE``: the ``bottom``, ``top``, ``left`` or ``right`` half is missing.

Missing pixels are filled with uniform noise over the data range: that is the corrupted input a restoration
starts from and whose own PSNR/SSIM the tables show. Randomness comes from a generator seeded per corruption.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ebmbench.errors import EbmbenchError

NOISE_KINDS = ("gaussian", "salt-pepper")
MASK_KINDS = ("box", "pixels", "half")
SIDES = ("bottom", "top", "left", "right")
DEFAULT_CORRUPTIONS = ("gaussian:0.1", "gaussian:0.3", "gaussian:0.5", "salt-pepper:0.1", "salt-pepper:0.3",
                       "box:0.5", "pixels:0.5", "half:bottom")


@dataclass(frozen=True)
class Corruption:
    """A parsed ``KIND:LEVEL``; ``level`` is a number except for ``half`` (a side)."""

    kind: str
    level: float | str

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.level:g}" if isinstance(self.level, float) else f"{self.kind}:{self.level}"

    @property
    def is_mask(self) -> bool:
        return self.kind in MASK_KINDS


def parse_corruption(text: str) -> Corruption:
    """``"gaussian:0.3"`` -> Corruption; a one-line error naming the valid forms otherwise."""
    kind, _, level = text.strip().partition(":")
    forms = "gaussian:S, salt-pepper:P, box:F, pixels:P or half:bottom|top|left|right"
    if kind == "half":
        if level not in SIDES:
            raise EbmbenchError(f"corruption {text!r}: half needs a side ({', '.join(SIDES)})")
        return Corruption(kind, level)
    if kind not in NOISE_KINDS + MASK_KINDS:
        raise EbmbenchError(f"unknown corruption {text!r}; use {forms}")
    try:
        value = float(level)
    except ValueError:
        raise EbmbenchError(f"corruption {text!r} needs a number after the colon; use {forms}") from None
    upper = float("inf") if kind == "gaussian" else 1.0
    if not 0 < value <= upper:
        raise EbmbenchError(f"corruption {text!r}: the level must lie in (0, {upper:g}]")
    return Corruption(kind, value)


def known_mask(c: Corruption, n: int, shape: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
    """Boolean (n, 1, H, W): True where the pixel is known (all True for noise corruptions)."""
    _, h, w = shape
    known = torch.ones((n, 1, h, w), dtype=torch.bool)
    if c.kind == "box":
        bh, bw = max(1, round(float(c.level) * h)), max(1, round(float(c.level) * w))
        top, left = (h - bh) // 2, (w - bw) // 2
        known[..., top:top + bh, left:left + bw] = False
    elif c.kind == "pixels":
        known = torch.rand((n, 1, h, w), generator=generator) >= float(c.level)
    elif c.kind == "half":
        rows, cols = slice(None), slice(None)
        if c.level in ("bottom", "top"):
            rows = slice(h // 2, None) if c.level == "bottom" else slice(None, h - h // 2)
        else:
            cols = slice(w // 2, None) if c.level == "right" else slice(None, w - w // 2)
        known[..., rows, cols] = False
    return known


def corrupt(c: Corruption, clean: torch.Tensor, value_range: tuple[float, float], seed: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The corrupted images and the known-pixel mask (broadcastable over channels) of ``clean`` (N, C, H, W)."""
    lo, hi = value_range
    gen = torch.Generator().manual_seed(seed)
    n, shape = len(clean), tuple(clean.shape[1:])
    if c.kind == "gaussian":
        noisy = clean + float(c.level) * torch.randn(clean.shape, generator=gen)
        return noisy.clamp(lo, hi), known_mask(c, n, shape, gen)
    if c.kind == "salt-pepper":
        hit = torch.rand((n, 1, *shape[1:]), generator=gen) < float(c.level)
        salt = torch.rand((n, 1, *shape[1:]), generator=gen) < 0.5
        value = torch.where(salt, torch.tensor(hi), torch.tensor(lo)).to(clean.dtype)
        return torch.where(hit, value, clean), known_mask(c, n, shape, gen)
    known = known_mask(c, n, shape, gen)
    fill = lo + (hi - lo) * torch.rand(clean.shape, generator=gen)
    return torch.where(known, clean, fill), known
