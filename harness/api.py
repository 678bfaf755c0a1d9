"""The Python API: ``ebmbench.wrap``, ``load``, ``save`` and ``evaluate``.

``evaluate`` writes exactly the run directory ``ebmbench run`` writes (same identity, records and artifacts) and
returns the records as a pandas DataFrame with the directory's path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Model
from ebmbench.models.wrapped import WrappedModel, wrap
from ebmbench.runner import ModelSource, checkpoint_source, run_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["evaluate", "load", "save", "wrap"]
_SOURCE = "_ebmbench_source"  # attribute a loaded model carries: the checkpoint it came from


def load(path: str | Path, device: str = "cpu") -> Model:
    """A model from an ebmbench checkpoint (safe: nothing is unpickled)."""
    from ebmbench.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, device)
    setattr(ckpt.model, _SOURCE, checkpoint_source(path, ckpt.sha256))
    return ckpt.model


def save(model: Model, path: str | Path) -> Path:
    """Write a self-describing checkpoint of a model whose architecture ebmbench knows (its own families, and
    JEM's Wide ResNet passed through ``wrap(..., energy="logits")``); other wrapped modules are refused, since
    ebmbench could not rebuild them from a file."""
    from ebmbench.checkpoint import save_checkpoint
    from ebmbench.registries import MODELS

    if isinstance(model, WrappedModel) and type(model) is WrappedModel:
        model = _as_known(model)
    if model.family not in MODELS or not isinstance(model, MODELS.get(model.family)):
        raise EbmbenchError(f"ebmbench cannot save a {type(model).__name__}: its architecture is not one it can "
                            "rebuild; save the module's state_dict and evaluate it with --model-factory")
    return save_checkpoint(path, model)


def _as_known(model: WrappedModel) -> Model:
    """A wrapped module ebmbench can rebuild, as a model of its family (JEM's CCF Wide ResNet -> ``jem``)."""
    from ebmbench.models.base import ModelInfo
    from ebmbench.models.jem import JEM
    from ebmbench.models.wrn import CCFNet, infer_wrn

    if not (isinstance(model.net, CCFNet) and model.energy_kind == "logits" and model.info.conditional):
        raise EbmbenchError(f"ebmbench cannot save a wrapped {type(model.net).__name__}: only its own "
                            "architectures can be rebuilt from a file; save the module's state_dict and evaluate "
                            "it with --model-factory")
    arch = infer_wrn(model.net.state_dict())
    info = ModelInfo(**{**model.info.to_dict(), "family": "jem"})
    config = {"arch": "wrn", "depth": arch["depth"], "width": arch["width"], "norm": model.net.f.norm,
              "input_range": list(model.input_range)}
    jem = JEM(info, config)
    jem.load_state_dict(model.state_dict())
    return jem


def weights_sha256(model: Model) -> str:
    """A hash of a model's tensors (names, dtypes, shapes, bytes): the identity of an in-memory model."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(-1).view(dtype=torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def evaluate(model: Model | str | Path, suite: str, out: str | Path, options: Mapping[str, Any] | None = None,
             baselines: Mapping[str, str | Path] | None = None, seed: int = 0, device: str = "auto",
             name: str | None = None, overwrite: bool = False, progress: bool = False,
             data_root: str | Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Run ``suite`` on ``model`` (a model, or a checkpoint path) into the run directory ``out``, exactly as
    ``ebmbench run`` does; returns ``(records, out)``, one DataFrame row per record (``extra`` as a dict column).

    ``options`` are the suite's options (as ``--set``), ``baselines`` maps names to checkpoints (as
    ``--baseline``). Re-running into ``out`` resumes; a different configuration needs ``overwrite=True``."""
    import pandas as pd

    from ebmbench.data.base import DataContext, default_data_root

    if isinstance(model, str | Path):
        model = load(model)
    if not isinstance(model, Model):
        raise EbmbenchError(f"evaluate expects an ebmbench model (ebmbench.wrap / ebmbench.load) or a checkpoint "
                            f"path, not {type(model).__name__}")
    source = getattr(model, _SOURCE, None) or ModelSource(weights_sha256(model),
                                                          str(model.config.get("name", model.family)))
    settings = [f"{k}={_setting(v)}" for k, v in (options or {}).items()]
    data = DataContext(root=Path(data_root) if data_root else default_data_root())
    run = run_model(suite, model, source, out, settings, dict(baselines or {}), device, seed, data, overwrite,
                    progress, name)
    return pd.DataFrame([r.to_json() for r in run.records()]), run.path


def _setting(value: Any) -> str:
    """An option value as ``--set`` text (lists and tuples comma-separated)."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)
