"""``ebmbench run SUITE --model-factory pkg.module:build --weights FILE``: the user's own code builds the model.

Code is imported only because this flag names it: a checkpoint file alone never causes an import. The factory
is called with no arguments and returns an ebmbench model (typically ``ebmbench.wrap(MyNet(), ...)``); the
weights (safetensors, or a torch file read with ``weights_only=True``) are loaded into the wrapped module. The
run's manifest records the factory's name and the SHA-256 of its source file, and the weights file's hash.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from pathlib import Path

from torch import nn

from ebmbench.checkpoint import file_sha256
from ebmbench.errors import EbmbenchError
from ebmbench.importers.common import check_weights
from ebmbench.importers.weights import read_weights, state_dict_of
from ebmbench.models.base import Model
from ebmbench.models.wrapped import WrappedModel
from ebmbench.runner import ModelSource


def resolve_factory(spec: str):
    """The callable ``pkg.module:attr`` names; the current directory is searched first, like ``python -m``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise EbmbenchError(f"--model-factory expects pkg.module:function, not {spec!r}")
    cwd = str(Path.cwd())
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EbmbenchError(f"--model-factory {spec}: cannot import {module_name!r} ({exc}); run from the folder "
                            "that holds it or install its package") from None
    finally:
        if added:
            sys.path.remove(cwd)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise EbmbenchError(f"--model-factory {spec}: {module_name} has no function {attr!r}")
    return factory


def source_sha256(factory) -> str:
    """SHA-256 of the file that defines ``factory`` (of its source text when there is no file)."""
    try:
        path = inspect.getsourcefile(factory)
    except TypeError:
        path = None
    if path and Path(path).is_file():
        return file_sha256(path)
    return hashlib.sha256(repr(factory).encode()).hexdigest()


def build_from_factory(spec: str, weights: str | Path) -> tuple[Model, ModelSource]:
    """The model the factory builds, with ``weights`` loaded, and what the run records about it."""
    factory = resolve_factory(spec)
    model = factory()
    if not isinstance(model, Model):
        what = "a bare torch module" if isinstance(model, nn.Module) else type(model).__name__
        raise EbmbenchError(f"--model-factory {spec} returned {what}; return ebmbench.wrap(module, energy=..., "
                            "input_shape=..., ...) so ebmbench knows its energies, shape and classes")
    weights = Path(weights)
    state = state_dict_of(read_weights(weights), weights)
    target = model.net if isinstance(model, WrappedModel) else model
    check_weights(target, state, weights)
    model.eval()
    code = source_sha256(factory)
    source = ModelSource(sha256=file_sha256(weights), name=weights.stem,
                         identity={"factory": spec, "factory_sha256": code},
                         details={"factory": spec, "factory_source": inspect.getsourcefile(factory),
                                  "factory_sha256": code, "weights": str(weights.resolve())})
    return model, source
