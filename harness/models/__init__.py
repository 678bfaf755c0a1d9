"""Models behind one small interface: energy, log-likelihood, logits, sampling, and their metadata."""

from ebmbench.models.base import Capability, Model, ModelInfo, require

__all__ = ["Capability", "Model", "ModelInfo", "require"]
