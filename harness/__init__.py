"""ebmbench: evaluation and benchmarking harness for energy-based models.

The Python API (``wrap``, ``load``, ``save``, ``evaluate``) is imported on first use, so ``import ebmbench`` stays
light (no torch until a function is called).
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "load", "save", "wrap"]
_API = ("evaluate", "load", "save", "wrap")


def __getattr__(name: str) -> Any:
    if name in _API:
        from ebmbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'ebmbench' has no attribute {name!r}")
