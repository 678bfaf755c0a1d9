"""Fingerprints of evaluated images: records carry them so that ``ebmbench compare`` can tell whether two runs
scored the very same images in the same order (then a paired test applies) without storing the images."""

from __future__ import annotations

import hashlib

import torch


def fingerprint(*tensors: torch.Tensor) -> str:
    """The first 16 hex digits of a SHA-256 over the tensors' shapes, dtypes and bytes (on the CPU)."""
    digest = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f"{tuple(t.shape)}|{t.dtype}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:16]
