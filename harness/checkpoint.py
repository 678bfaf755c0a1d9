"""Self-describing, safe checkpoints: one safetensors file whose header metadata holds a JSON description.

Loading parses the header with plain ``json`` and reads raw tensors; nothing is ever unpickled, so a file
carrying a pickle payload cannot run code. Tensors are namespaced: ``model.*`` (weights), ``optim.*`` and
``state.*`` (training state for ``--resume``).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ebmbench import __version__
from ebmbench import checkpoint_checks as checks
from ebmbench.atomic import atomic_path
from ebmbench.errors import CheckpointError
from ebmbench.models.base import Model, ModelInfo
from ebmbench.replay_buffer import stored_images

FORMAT = "ebmbench-checkpoint"
FORMAT_VERSION = 1
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model, its description, training state tensors and the file's SHA-256."""

    model: Model
    header: dict[str, Any]
    path: Path
    sha256: str
    state: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def training(self) -> dict[str, Any]:
        return self.header.get("training", {})


def save_checkpoint(path: str | Path, model: Model, training: dict[str, Any] | None = None,
                    state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``model`` (and optional training state) atomically: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "ebmbench_version": __version__,
              "family": model.family, "info": model.info.to_dict(), "config": model.config,
              "training": training or {}}
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({k: v.detach().cpu().contiguous() for k, v in (state or {}).items()})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"ebmbench": json.dumps(header)})
    return path


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_header(path: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON description, after checking the file is a complete safetensors file."""
    return _read(Path(path))[0]


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked description and the safetensors table (tensor name -> dtype, shape, data_offsets)."""
    if not path.is_file():
        kind = checks.path_kind(path)
        if kind is not None:
            raise CheckpointError(f"no checkpoint at {path}: it is {kind}, not a checkpoint file; give the "
                                  ".safetensors file itself")
        raise CheckpointError(f"no checkpoint at {path}; train one with `ebmbench train` or check the path")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head.startswith(_PICKLE_MAGIC):
            raise CheckpointError(f"{path} is a pickle/torch.save file; ebmbench loads only safetensors "
                                  "checkpoints (it never unpickles); re-train it with `ebmbench train`, or save "
                                  "its state_dict with ebmbench.checkpoint.save_checkpoint")
        if len(head) < 8:
            raise CheckpointError(f"{path} is too short to be a checkpoint ({size} bytes); it is truncated or empty")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise CheckpointError(f"{path} is not a safetensors checkpoint or is truncated (bad header length)")
        if n > checks.MAX_HEADER_BYTES:
            raise CheckpointError(f"{path}: its header is {n} bytes, over the {checks.MAX_HEADER_BYTES} that an "
                                  "ebmbench checkpoint can have; it is not one")
        raw = fh.read(n)
    try:
        table = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (its header is not JSON)") from None
    meta = checks.check_table(path, table, size, n)
    return _check_description(path, meta), table


REQUIRED_KEYS: tuple[str, ...] = ("family", "info", "config")


def _check_description(path: Path, meta: str) -> dict[str, Any]:
    """The parsed ebmbench description, refused unless it is a JSON object of a format this version reads
    whose every field has the right type and range."""
    try:
        header = json.loads(meta)
    except (json.JSONDecodeError, RecursionError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an ebmbench checkpoint (its description is damaged or foreign); "
                              "re-train it or re-copy the original")
    version = header.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        version = -1
    if version < 1 or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {header.get('format_version')!r}; this "
                              f"ebmbench reads 1 to {FORMAT_VERSION}" + (": upgrade ebmbench" if version > 1 else ""))
    if missing := [k for k in REQUIRED_KEYS if not isinstance(header.get(k), dict if k != "family" else str)]:
        raise CheckpointError(f"{path} is an incomplete ebmbench checkpoint (no valid {', '.join(missing)}); "
                              "re-train it or re-copy the original")
    checks.check_description(path, header)
    return header


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Load and validate a checkpoint; every problem is a one-line CheckpointError.

    Nothing is allocated before the description is checked and the architecture it describes, built on the
    ``meta`` device, has exactly the file's weight names, shapes and floating-point dtypes."""
    from ebmbench.registries import MODELS

    path = Path(path)
    header, table = _read(path)
    cls = MODELS.get(header["family"])
    with checks.on_meta(len(table)):
        expected = _built(path, header, cls).state_dict()
    checks.check_against_file(path, expected, table)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for corrupt data
        raise CheckpointError(f"{path} is corrupt: {exc}") from None
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    checks.check_finite(path, weights)
    model = _built(path, header, cls)
    _load_weights(model, weights, path)
    state = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    model.to(device).eval()
    model.stored_samples = stored_images(state)
    return Checkpoint(model, header, path, file_sha256(path), state)


def _built(path: Path, header: dict[str, Any], cls: type[Model]) -> Model:
    try:
        return build_model(header, cls)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def build_model(header: dict[str, Any], cls: type[Model]) -> Model:
    """Rebuild the architecture a header describes."""
    try:
        return cls.from_config(ModelInfo.from_dict(header["info"]), header["config"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError, OverflowError) as exc:
        problem = f"missing field {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"its config cannot build a model of family {header.get('family')!r} "
                              f"({problem}); re-train it or re-copy the original") from None


def _load_weights(model: Model, weights: dict[str, torch.Tensor], path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", sorted(wrong))) if keys)
        raise CheckpointError(f"{path}: weights do not match the config it describes ({detail})")
    model.load_state_dict(weights)
