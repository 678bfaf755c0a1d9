"""Seed derivation, in one place: every random stream that must not depend on what ran before it gets its own
seed from the run's seed and what it is for, so results repeat whatever the order of work, resumes or ranks.

``mix(seed, k)`` separates numbered streams (training steps, sampling budgets, evaluation draws); ``keyed``
separates named ones (a dataset split, an OOD set and score). Both are stable across processes and platforms
(no Python ``hash``).
"""

from __future__ import annotations

import hashlib
import zlib

import torch

PRIME = 1_000_003  # larger than any step or draw count, so (seed, k) pairs never collide for small k


def mix(seed: int, k: int) -> int:
    """The seed of stream ``k`` of run seed ``seed``: ``seed * PRIME + k``."""
    return seed * PRIME + k


def keyed(*parts: object) -> int:
    """A 32-bit seed from named parts (``keyed(seed, "uniform", "test")``): the CRC-32 of ``"a/b/c"``."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def derive(*parts: object) -> int:
    """A 63-bit seed from any sequence of ints and strings (``derive(seed, "attack", restart, batch)``): for
    work split by global batch or example index over processes (``ebmbench.distributed``), where 32 bits
    would collide too often. The same parts give the same seed in every process."""
    blob = "\x1f".join(f"{type(p).__name__}:{p}" for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little") >> 1


def generator(device: torch.device | str, *parts: object) -> torch.Generator:
    """A generator on ``device`` seeded by ``derive(*parts)``."""
    return torch.Generator(device=device).manual_seed(derive(*parts))
