"""Default baselines for the digits: a standard classifier and a PGD-trained one (Madry et al. 2018), trained on
first use and cached by their full training config (``ebmbench.zoo``). Short runs: together well under a
minute of CPU, so the suite's quickstart stays within its share."""

from __future__ import annotations

import warnings
from typing import Any

from ebmbench.checkpoint import load_checkpoint
from ebmbench.models.base import Model
from ebmbench.suite import SuiteContext
from ebmbench.zoo import cached_model

DIGITS_BASELINES: dict[str, dict[str, Any]] = {
    "classifier": {"dataset": "digits", "width": 16, "iterations": 200, "batch_size": 64},
    "classifier-pgd": {"dataset": "digits", "width": 16, "iterations": 200, "batch_size": 64,
                       "adv_train": "linf:0.1", "adv_steps": 3},
}


def default_baselines(ctx: SuiteContext) -> dict[str, Model]:
    """The cached default baselines for the model's dataset (none where no defaults exist)."""
    if ctx.dataset != "digits":
        return {}
    out = {}
    for name, settings in DIGITS_BASELINES.items():
        path = cached_model("classifier", settings, ctx.cache_dir, ctx.device, data=ctx.data, progress=ctx.progress)
        model = load_checkpoint(path, ctx.device).model
        if tuple(model.info.input_shape) != tuple(ctx.model.info.input_shape):
            warnings.warn(f"default baseline {name!r} expects {tuple(model.info.input_shape)} images but the model "
                          f"{tuple(ctx.model.info.input_shape)}; skipped", stacklevel=2)
            continue
        out[name] = model.eval()
    return out
