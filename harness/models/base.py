"""The interface every model the suites see implements, whatever its family.

A suite asks a model for capabilities (``energy``, ``log_prob``, ``logits``, ``sample``) and refuses clearly
when one is missing; it never branches on a model's name or family.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import nn

from ebmbench.errors import CapabilityError


class Capability(str, Enum):
    ENERGY = "energy"
    LOG_PROB = "log_prob"
    LOGITS = "logits"
    SAMPLE = "sample"


@dataclass(frozen=True)
class ModelInfo:
    """What a model expects and what it was trained on; stored in every checkpoint."""

    family: str
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int = 0
    conditional: bool = False
    value_range: tuple[float, float] = (0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        return cls(family=d["family"], dataset=d["dataset"], input_shape=tuple(d["input_shape"]),
                   num_classes=int(d.get("num_classes", 0)), conditional=bool(d.get("conditional", False)),
                   value_range=tuple(d.get("value_range", (0.0, 1.0))))


class Model(nn.Module):
    """Base class: subclasses set ``capabilities`` and implement the matching methods.

    ``config`` is the JSON-able dict that rebuilds the architecture (``from_config``); a trainable family has a
    ``Trainer`` registered under its name in ``ebmbench.registries.TRAINERS``.
    """

    family: ClassVar[str] = "model"
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # Images in [0, 1] the model's training left behind (its replay buffer), when its checkpoint carries them:
    # where the quality suite's buffer protocol can start (``buffer_start=stored``).
    stored_samples: torch.Tensor | None = None
    # Whether the energy of an example depends on that example alone (it does unless batch statistics are
    # involved, which the sampler detects in BatchNorm layers): the CPU sampler may then differentiate a batch
    # of chains a block at a time (``ebmbench.sampler.auto_micro_batch``). A model that cannot promise it says so.
    independent_examples: bool = True

    def __init__(self, info: ModelInfo, config: dict[str, Any]) -> None:
        super().__init__()
        self.info = info
        self.config = dict(config)

    @classmethod
    def from_config(cls, info: ModelInfo, config: dict[str, Any]) -> Model:
        return cls(info, config)

    def has(self, capability: Capability | str) -> bool:
        return Capability(capability) in self.capabilities

    def energy(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Energy per example (lower = more likely); conditional models take labels ``y``."""
        raise CapabilityError(f"{self.family} model has no energy")

    def energy_all_classes(self, x: torch.Tensor) -> torch.Tensor:
        """Energies E(x, y) for every label, shape (batch, classes); batched where the model allows."""
        if not self.info.conditional:
            raise CapabilityError(f"{self.family} model is not conditional")
        labels = torch.arange(self.info.num_classes, device=x.device)
        return torch.stack([self.energy(x, labels[k].expand(len(x))) for k in range(len(labels))], dim=1)

    def sample(self, n: int, config: Any, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
               record: bool = False) -> Any:
        """Draw ``n`` samples (a ``ChainResult``); conditional models sample for labels ``y``."""
        raise CapabilityError(f"{self.family} model cannot sample")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-likelihood per example in nats (continuous density over the value range)."""
        raise CapabilityError(f"{self.family} model has no log-likelihood")

    def bits_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Bits per dimension of the discretized data under ``log_prob`` (8-bit levels unless the model says
        otherwise), per example: the likelihood models' headline figure."""
        from ebmbench.models.dequantize import bits_per_dim

        return bits_per_dim(self.log_prob(x), x[0].numel())

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (batch, classes)."""
        raise CapabilityError(f"{self.family} model does not classify")

    def logits_module(self) -> nn.Module:
        """``logits`` wrapped as a module whose forward returns logits (for torchattacks)."""
        return LogitsModule(self)


def require(model: Model, *capabilities: Capability | str, who: str = "this suite") -> None:
    """Raise a one-line CapabilityError unless ``model`` has every capability."""
    missing = [Capability(c).value for c in capabilities if not model.has(c)]
    if missing:
        have = ", ".join(sorted(c.value for c in model.capabilities)) or "nothing"
        hints = "; ".join(HINTS[m] for m in missing if m in HINTS)
        raise CapabilityError(f"{who} needs a model with {', '.join(missing)}; the {model.family} model has "
                              f"{have}" + (f" ({hints})" if hints else ""))


# Which models have a capability, for errors that say what to give instead.
HINTS: dict[str, str] = {
    "logits": "a classifier, or an EBM trained with `--set conditional=true`, has logits",
    "energy": "an EBM (`ebmbench train --kind ebm`) has energies",
    "log_prob": "Glow and PixelCNN++ (`ebmbench train --kind glow|pixelcnn`) have likelihoods",
    "sample": "an EBM samples by Langevin dynamics",
}


class LogitsModule(nn.Module):
    """``model.logits`` as a plain module, the form attack libraries (torchattacks) expect."""

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.logits(x)
