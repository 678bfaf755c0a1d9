"""What a checkpoint file must look like before anything in it is trusted: the safetensors table's structure,
the description's fields (types and ranges), and the architecture's tensors against the file's, compared on the
``meta`` device so that a description asking for a 72 TB network allocates nothing.

Every check raises ``CheckpointError`` with one line that names the file, the field and what to do.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ebmbench.errors import CheckpointError

MAX_HEADER_BYTES = 16 * 1024 * 1024  # ebmbench's own headers are a few kB; a larger one is not ours
MAX_CLASSES = 100_000
MAX_CHANNELS, MAX_SIDE, MAX_PIXELS = 4096, 8192, 1 << 26
MAX_CONFIG_INT = 1 << 31
FLOAT_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}
ITEM_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
              "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
DAMAGED = "re-train it or re-copy the original"


def path_kind(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file ("a directory", "a FIFO", ...); None for a regular file
    or a missing path. Checked before opening: opening a FIFO would block forever."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return None


def check_table(path: Path, table: Any, size: int, header_len: int) -> str:
    """The safetensors table's structure; returns the ebmbench description string it carries."""
    if not isinstance(table, dict):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (its header is a JSON "
                              f"{type(table).__name__}, not an object); {DAMAGED}")
    for name, entry in table.items():
        if name != "__metadata__":
            _check_entry(path, name, entry, size - 8 - header_len)
    meta = table.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{path} is not a safetensors checkpoint (its __metadata__ is not a JSON object of "
                              f"strings); {DAMAGED}")
    if "ebmbench" not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not an ebmbench checkpoint (no description)")
    return meta["ebmbench"]


def _check_entry(path: Path, name: str, entry: Any, data_bytes: int) -> None:
    where = f"{path}: tensor {name[:80]!r}"
    if not isinstance(entry, dict):
        raise CheckpointError(f"{where} has no dtype, shape and data_offsets; {DAMAGED}")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in ITEM_BYTES:
        raise CheckpointError(f"{where} has an unknown dtype {str(dtype)[:20]!r}; {DAMAGED}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise CheckpointError(f"{where} has no valid shape; {DAMAGED}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise CheckpointError(f"{where} has no valid data_offsets; {DAMAGED}")
    if offsets[1] > data_bytes:
        raise CheckpointError(f"{path} is truncated ({name[:80]!r} ends at byte {offsets[1]} of the data, which "
                              f"has {data_bytes}); {DAMAGED}")
    if offsets[1] - offsets[0] != math.prod(shape) * ITEM_BYTES[dtype]:
        raise CheckpointError(f"{where}: its shape {shape} does not fit its {offsets[1] - offsets[0]} bytes; "
                              f"{DAMAGED}")


def check_description(path: Path, header: dict[str, Any]) -> None:
    """Every field the loader and ``info`` read, by type and range (the format and version are checked first)."""
    info = header["info"]
    bad = _info_problem(info) or _config_problem(header["config"], "config")
    training = header.get("training", {})
    if bad is None and not isinstance(training, dict):
        bad = "training is not a JSON object"
    if bad is None:
        bad = next((f"training.{k} is not a JSON object" for k in ("metrics", "config")
                    if not isinstance(training.get(k, {}), dict)), None)
    if bad is None and not isinstance(header.get("ebmbench_version", ""), str):
        bad = "ebmbench_version is not a string"
    if bad is not None:
        raise CheckpointError(f"{path} has an invalid description ({bad}); {DAMAGED}")


def _info_problem(info: dict[str, Any]) -> str | None:
    for key in ("family", "dataset"):
        value = info.get(key)
        if not isinstance(value, str) or not value or len(value) > 256 or not value.isprintable():
            return f"info.{key} must be a short printable string, not {_show(value)}"
    shape = info.get("input_shape")
    if (not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(d) for d in shape)
            or not 1 <= shape[0] <= MAX_CHANNELS or not all(1 <= d <= MAX_SIDE for d in shape[1:])
            or math.prod(shape) > MAX_PIXELS):
        return (f"info.input_shape must be [channels, height, width] with 1 <= channels <= {MAX_CHANNELS} and "
                f"sides 1 to {MAX_SIDE}, not {_show(shape)}")
    classes = info.get("num_classes", 0)
    if not _is_int(classes) or not 0 <= classes <= MAX_CLASSES:
        return f"info.num_classes must be an integer from 0 to {MAX_CLASSES}, not {_show(classes)}"
    conditional = info.get("conditional", False)
    if not isinstance(conditional, bool):
        return f"info.conditional must be true or false, not {_show(conditional)}"
    if conditional and classes < 1:
        return "info.conditional is true but info.num_classes is 0"
    low_high = info.get("value_range", [0.0, 1.0])
    if (not isinstance(low_high, list) or len(low_high) != 2 or not all(_is_number(v) for v in low_high)
            or not low_high[0] < low_high[1]):
        return f"info.value_range must be [low, high] with finite low < high, not {_show(low_high)}"
    return None


def _config_problem(value: Any, where: str, depth: int = 0) -> str | None:
    """JSON scalars, short lists and shallow objects only; numbers finite and integers below 2**31."""
    if depth > 4:
        return f"{where} is nested too deeply"
    if isinstance(value, dict):
        if len(value) > 256:
            return f"{where} has {len(value)} fields"
        return next((p for k, v in value.items() if (p := _config_problem(v, f"{where}.{k}", depth + 1))), None)
    if isinstance(value, list):
        if len(value) > 256:
            return f"{where} has {len(value)} items"
        return next((p for i, v in enumerate(value) if (p := _config_problem(v, f"{where}[{i}]", depth + 1))),
                    None)
    if isinstance(value, str):
        return None if len(value) <= 1024 else f"{where} is a {len(value)}-character string"
    if isinstance(value, bool) or value is None:
        return None
    if _is_int(value):
        return None if abs(value) < MAX_CONFIG_INT else f"{where}={value} is out of range"
    if _is_number(value):
        return None
    return f"{where} must be a finite number, string, list or object, not {_show(value)}"


def check_against_file(path: Path, expected: dict[str, torch.Tensor], table: dict[str, Any]) -> None:
    """The architecture's tensors (built on ``meta``) against the file's ``model.*`` entries: same names, same
    shapes, and floating-point weights where the architecture has floating-point ones (an int32 or bool
    tensor would load as nonsense numbers)."""
    stored = {k[len("model."):]: v for k, v in table.items() if k.startswith("model.")}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if list(expected[k].shape) != stored[k]["shape"])
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong)) if keys)
        raise CheckpointError(f"{path}: weights do not match the config it describes ({detail})")
    for key, tensor in expected.items():
        dtype = stored[key]["dtype"]
        if tensor.is_floating_point() and dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"{path}: weight {key!r} is stored as {dtype}, not floating point; a checkpoint's "
                                  f"weights are F16, BF16, F32 or F64; {DAMAGED}")


def check_finite(path: Path, weights: dict[str, torch.Tensor]) -> None:
    """Weights with NaN or infinity give NaN energies that would pass for measurements: refuse them."""
    bad = sorted(k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
    if bad:
        raise CheckpointError(f"{path} has non-finite weights ({', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''}"
                              "); its training diverged: re-train it or use an earlier checkpoint")


class _CallBudget(TorchFunctionMode):
    """Counts torch calls while an architecture is built and stops past ``limit``: a description asking for a
    million residual blocks must fail at once, not after minutes of building them on ``meta``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit, self.calls = limit, 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.calls += 1
        if self.calls > self.limit:
            raise CheckpointError(f"its config describes a far larger network than the file holds; {DAMAGED}")
        return func(*args, **(kwargs or {}))


@contextmanager
def on_meta(tensors_in_file: int) -> Iterator[None]:
    """Build modules on the ``meta`` device (shapes only, no memory) within a call budget that grows with the
    number of tensors the file holds (about 30 calls per tensor for ebmbench's own networks)."""
    with torch.device("meta"), _CallBudget(200 * tensors_in_file + 2000):
        yield


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and abs(value) < 1e300)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
