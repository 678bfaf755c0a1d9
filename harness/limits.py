"""Memory limits for size options: estimate what an option's value will allocate before anything is allocated,
and refuse (one line naming the option, the estimate and the limit) what cannot fit, instead of a traceback
after minutes or an out-of-memory kill.

The limit is ``EBMBENCH_MAX_MEMORY`` (bytes, or with a K/M/G/T suffix) when set, else 80% of this machine's
physical memory. Estimates are lower bounds (the images or replicates an option asks for, each counted once), so
a refusal is always right; an accepted value may still need more.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

from ebmbench.errors import EbmbenchError

ENV = "EBMBENCH_MAX_MEMORY"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
FLOAT_BYTES = 4
SMALLEST_IMAGE = (1, 8, 8)  # the embedded digits: a floor where the data's shape is not known yet (training)

# Option name -> bytes per unit of its value, given (image bytes, the options). Names are shared by every suite
# and trainer (a new suite's ``n`` is covered without listing it); each counts what its value makes at once.
COSTS: dict[str, tuple[str, Callable[[int, Any], int]]] = {
    "n": ("images", lambda image, o: image),
    "noise_n": ("noise images", lambda image, o: image),
    "n_in": ("in-distribution images", lambda image, o: image),
    "buffer_size": ("replay-buffer images", lambda image, o: image),
    "batch_size": ("images in one batch", lambda image, o: image),
    "full_batch_size": ("images in one batch", lambda image, o: image),
    "kid_subset_size": ("feature rows", lambda image, o: 2048 * FLOAT_BYTES),
    "bootstrap": ("bootstrap counts (8 bytes per image and replicate)",
                  lambda image, o: 8 * 2 * max(int(getattr(o, "n", 0) or 0), 1000)),
}


def memory_limit() -> tuple[int, str]:
    """The byte limit and where it comes from (for messages)."""
    raw = os.environ.get(ENV, "").strip().upper().removesuffix("B")
    if raw:
        unit = raw[-1] if raw[-1] in _UNITS else ""
        try:
            value = float(raw[:-1] if unit else raw)
        except ValueError:
            raise EbmbenchError(f"{ENV}={os.environ[ENV]!r} is not a size; give bytes or e.g. 16G") from None
        return int(value * _UNITS[unit]), ENV
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 16 << 30
    return int(0.8 * physical), f"80% of this machine's memory; set {ENV} to change it"


def check_sizes(options: Any, input_shape: tuple[int, ...], who: str) -> None:
    """Refuse any size option of the dataclass ``options`` whose estimate exceeds the memory limit."""
    if not dataclasses.is_dataclass(options):
        return
    image = FLOAT_BYTES * math.prod(input_shape)
    limit, source = memory_limit()
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if field.name not in COSTS or not isinstance(value, int) or isinstance(value, bool):
            continue
        what, per_unit = COSTS[field.name]
        needed = value * per_unit(image, options)
        if needed > limit:
            raise EbmbenchError(f"{who}: {field.name}={value} needs at least {human(needed)} of memory for its "
                                f"{what}, over the limit of {human(limit)} ({source}); lower {field.name}")


def human(size: float) -> str:
    """Bytes as a short human size: 256.0 TB."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1024 or unit == "PB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} PB"
