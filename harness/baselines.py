"""Baselines beside the model under test: the compatibility check, and the one provider of default baselines.

The rule for defaults (every suite): when no ``--baseline`` is given and the model's dataset is an embedded
one (or a class subset of one), each of the suite's ``Recipe`` s is trained on the model's dataset on first
use and cached by its full training config (``ebmbench.zoo``), so later runs reuse it. A default that does not
fit the model (``check_compatible``) is skipped with a warning: it is a convenience, not something the user
asked for. Every default carries what produced it (checkpoint SHA-256, training settings) for the records.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebmbench.data.subsets import base_dataset
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Model, ModelInfo

if TYPE_CHECKING:
    from ebmbench.suite import SuiteContext

EMBEDDED: tuple[str, ...] = ("digits",)  # datasets whose default baselines are cheap enough to train on first use


def check_compatible(model: ModelInfo, name: str, baseline: ModelInfo) -> None:
    """A baseline must be trained on the same dataset and input shape as the model under test."""
    if (model.dataset, tuple(model.input_shape)) != (baseline.dataset, tuple(baseline.input_shape)):
        raise EbmbenchError(f"baseline {name!r} was trained on {baseline.dataset} {tuple(baseline.input_shape)} but "
                            f"the model on {model.dataset} {tuple(model.input_shape)}; give a baseline trained on "
                            "the same data")


@dataclass(frozen=True)
class Recipe:
    """A default baseline: its name in tables, its model family, its training settings beyond the family's
    defaults, and a caveat the suite's notes repeat."""

    name: str
    family: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    caveat: str = ""


@dataclass(frozen=True)
class DefaultBaseline:
    """A trained default baseline and what produced it."""

    name: str
    model: Model
    path: Path
    sha256: str
    recipe: Recipe
    train_settings: dict[str, Any]

    def provenance(self) -> dict[str, Any]:
        """Record fields naming the checkpoint and the settings it was trained with."""
        return {"checkpoint_sha256": self.sha256, "train_settings": self.train_settings}

    def note(self) -> str:
        """One line for a suite's notes: name, recipe, file, hash and caveat."""
        recipe = "".join(f", {k}={v}" for k, v in self.recipe.settings.items())
        caveat = f"; {self.recipe.caveat}" if self.recipe.caveat else ""
        return f"default baseline {self.name}{recipe}: {self.path} (sha256 {self.sha256[:12]}…){caveat}"


def wants_defaults(ctx: SuiteContext) -> bool:
    """The rule's condition: no ``--baseline`` given (or ``--with-default-baselines``) and an embedded dataset
    (or a class subset of one)."""
    return (not ctx.baselines or ctx.defaults_too) and base_dataset(ctx.dataset) in EMBEDDED


def default_baselines(ctx: SuiteContext, recipes: Iterable[Recipe],
                      taken: Iterable[str] = ()) -> dict[str, DefaultBaseline]:
    """The suite's default baselines under the rule above (empty when it does not apply), keyed by name; a name
    already ``taken`` (the model's) gets ``-default`` appended."""
    from ebmbench.checkpoint import load_checkpoint
    from ebmbench.zoo import cached_model

    if not wants_defaults(ctx):
        return {}
    out: dict[str, DefaultBaseline] = {}
    names = set(taken)
    for recipe in recipes:
        settings = {"dataset": ctx.dataset, **recipe.settings}
        path = cached_model(recipe.family, settings, ctx.cache_dir, ctx.device, data=ctx.data,
                            progress=ctx.progress)
        ckpt = load_checkpoint(path, ctx.device)
        name = recipe.name if recipe.name not in names else f"{recipe.name}-default"
        try:
            check_compatible(ctx.model.info, name, ckpt.model.info)
        except EbmbenchError as exc:
            warnings.warn(f"default {exc}; skipped", stacklevel=2)
            continue
        names.add(name)
        out[name] = DefaultBaseline(name, ckpt.model.eval(), Path(path), ckpt.sha256, recipe, settings)
    return out
