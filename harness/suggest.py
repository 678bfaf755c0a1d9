""""Did you mean": the closest valid names for a misspelt one, in one place for every message that offers them
(registries, options, score names, tolerance files, report subcommands)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, options: Iterable[str], n: int = 1, cutoff: float = 0.6, by_edits: bool = True) -> list[str]:
    """Up to ``n`` likeliest intended names for ``word``: fewest single-character edits first (so ``nn`` means
    ``n``, not ``n_in``; off with ``by_edits=False``, where a near miss must not be presumed), then difflib's
    similarity above ``cutoff``; empty when nothing is close."""
    options = list(dict.fromkeys(options))
    similar = difflib.get_close_matches(word, options, n=len(options), cutoff=cutoff)
    near = sorted((o for o in options if by_edits and edits(word, o) <= max(1, len(word) // 3)),
                  key=lambda o: edits(word, o))
    return list(dict.fromkeys(near + similar))[:n]


def did_you_mean(word: str, options: Iterable[str], n: int = 1, cutoff: float = 0.6, by_edits: bool = True) -> str:
    """``"; did you mean 'x'?"`` (or ``'x' or 'y'``), or ``""`` when nothing is close."""
    close = closest(word, options, n, cutoff, by_edits)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]
