"""Hostile checkpoint files: malformed safetensors structures, descriptions with wrong types or absurd sizes,
weights of the wrong dtype or non-finite. Each is refused by `ebmbench info` and `ebmbench run` with one line and
exit 2, before anything is allocated, and the run's --out is never created."""

from __future__ import annotations

import json
import os
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from ebmbench.checkpoint import load_checkpoint, read_header, save_checkpoint
from ebmbench.errors import CheckpointError
from ebmbench.models.base import ModelInfo
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    info = ModelInfo("ebm", "digits", (1, 8, 8), 10, conditional=True)
    model = EnergyModel(info, resolve_arch("small", width=8))
    return save_checkpoint(tmp_path_factory.mktemp("good") / "ebm.safetensors", model, {"step": 3})


def _raw(path: Path, header: Any, data: bytes = b"", declared: int | None = None) -> None:
    """A file laid out like safetensors: 8-byte length, a JSON header (any JSON value), data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text) if declared is None else declared) + text + data)


def _table(name: str = "model.x", **entry: Any) -> dict[str, Any]:
    base = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    return {name: {**base, **entry}, "__metadata__": {"ebmbench": json.dumps({"format": "ebmbench-checkpoint"})}}


def _described(edit: Callable[[dict[str, Any]], None]) -> Callable[[Path, Path], None]:
    """A copy of the good checkpoint whose description was changed by ``edit``."""
    def make(good: Path, out: Path) -> None:
        header = read_header(good)
        edit(header)
        save_file(load_file(str(good)), str(out), metadata={"ebmbench": json.dumps(header)})
    return make


def _set(section: str, key: str, value: Any) -> Callable[[Path, Path], None]:
    return _described(lambda h: h[section].__setitem__(key, value) if section else h.__setitem__(key, value))


def _drop(section: str, key: str) -> Callable[[Path, Path], None]:
    return _described(lambda h: (h[section] if section else h).pop(key))


def _weights(change: Callable[[dict[str, torch.Tensor]], None]) -> Callable[[Path, Path], None]:
    def make(good: Path, out: Path) -> None:
        tensors = load_file(str(good))
        change(tensors)
        save_file(tensors, str(out), metadata={"ebmbench": json.dumps(read_header(good))})
    return make


def _first_weight(tensors: dict[str, torch.Tensor]) -> str:
    return next(k for k in sorted(tensors) if k.startswith("model.") and tensors[k].dim() > 1)


def _retype(dtype: torch.dtype) -> Callable[[Path, Path], None]:
    return _weights(lambda t: t.__setitem__(_first_weight(t), (t[_first_weight(t)] * 100).to(dtype)))


def _poison(value: float) -> Callable[[Path, Path], None]:
    return _weights(lambda t: t[_first_weight(t)].view(-1).__setitem__(0, value))


def _structure(header: Any, data: bytes = b"", declared: int | None = None) -> Callable[[Path, Path], None]:
    return lambda good, out: _raw(out, header, data, declared)


def _bytes(data: bytes) -> Callable[[Path, Path], None]:
    return lambda good, out: out.write_bytes(data)


# (case, how to make the file from the good one, words the one-line refusal contains)
CASES: list[tuple[str, Callable[[Path, Path], None], str]] = [
    # the safetensors structure (class 3)
    ("header a json list", _structure([1, 2]), "not an object"),
    ("header a json string", _structure("model"), "not an object"),
    ("header json null", _structure(None), "not an object"),
    ("header a number", _structure(7), "not an object"),
    ("header not utf-8", _structure(b'{"a\xff": 1}'), "not JSON"),
    ("header nested 100000 deep", _structure(b"[" * 100000 + b"]" * 100000), "not JSON"),
    ("header length past the end", _structure({}, declared=10**6), "bad header length"),
    ("entry without data_offsets", _structure({"model.x": {"dtype": "F32", "shape": [2]}}, b"\0" * 8),
     "data_offsets"),
    ("entry a list", _structure({"model.x": [1, 2]}), "no dtype"),
    ("entry with unknown dtype", _structure(_table(dtype="F128"), b"\0" * 8), "unknown dtype"),
    ("entry dtype a number", _structure(_table(dtype=4), b"\0" * 8), "unknown dtype"),
    ("entry negative shape", _structure(_table(shape=[-2]), b"\0" * 8), "shape"),
    ("entry shape text", _structure(_table(shape="2"), b"\0" * 8), "shape"),
    ("entry offsets reversed", _structure(_table(data_offsets=[8, 0]), b"\0" * 8), "data_offsets"),
    ("entry offsets text", _structure(_table(data_offsets=["0", "8"]), b"\0" * 8), "data_offsets"),
    ("entry shape does not fit bytes", _structure(_table(shape=[1000]), b"\0" * 8), "does not fit"),
    ("entry past the end of the file", _structure(_table(data_offsets=[0, 8]), b"\0" * 4), "truncated"),
    ("__metadata__ a list", _structure({"__metadata__": ["ebmbench"]}), "__metadata__"),
    ("__metadata__ a string", _structure({"__metadata__": "ebmbench"}), "__metadata__"),
    ("description an object", _structure({"__metadata__": {"ebmbench": {"format": "ebmbench-checkpoint"}}}),
     "__metadata__"),
    ("no description", _structure({"__metadata__": {"other": "x"}}), "not an ebmbench checkpoint"),
    ("description not json", _structure({"__metadata__": {"ebmbench": "{oops"}}), "damaged or foreign"),
    ("description a json list", _structure({"__metadata__": {"ebmbench": "[1]"}}), "damaged or foreign"),
    ("empty file", _bytes(b""), "too short"),
    ("three bytes", _bytes(b"abc"), "too short"),
    ("pickle file", _bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00."), "pickle"),
    # description fields: types and ranges (class 2)
    ("description missing dataset", _drop("info", "dataset"), "info.dataset"),
    ("description missing info", _drop("", "info"), "no valid info"),
    ("description missing config", _drop("", "config"), "no valid config"),
    ("dataset a number", _set("info", "dataset", 123), "info.dataset"),
    ("dataset empty", _set("info", "dataset", ""), "info.dataset"),
    ("dataset with a newline", _set("info", "dataset", "digits\nerror: fake"), "info.dataset"),
    ("family a list", _set("", "family", ["ebm"]), "no valid family"),
    ("family unknown", _set("", "family", "nope"), "nope"),
    ("format_version text", _set("", "format_version", "1"), "format version"),
    ("format_version from the future", _set("", "format_version", 99), "upgrade"),
    ("format_version true", _set("", "format_version", True), "format version"),
    ("num_classes negative", _set("info", "num_classes", -1), "num_classes"),
    ("num_classes a billion", _set("info", "num_classes", 10**9), "num_classes"),
    ("num_classes text", _set("info", "num_classes", "10"), "num_classes"),
    ("num_classes a float", _set("info", "num_classes", 10.5), "num_classes"),
    ("conditional text", _set("info", "conditional", "yes"), "conditional"),
    ("conditional without classes", _described(lambda h: h["info"].update(num_classes=0)), "num_classes is 0"),
    ("input_shape two sides", _set("info", "input_shape", [1, 8]), "input_shape"),
    ("input_shape zero channels", _set("info", "input_shape", [0, 8, 8]), "input_shape"),
    ("input_shape huge", _set("info", "input_shape", [3, 100000, 100000]), "input_shape"),
    ("input_shape text", _set("info", "input_shape", "1x8x8"), "input_shape"),
    ("value_range reversed", _set("info", "value_range", [1.0, 0.0]), "value_range"),
    ("value_range text", _set("info", "value_range", [0, "1"]), "value_range"),
    ("value_range nan", _set("info", "value_range", [0, float("nan")]), "value_range"),
    ("training a list", _set("", "training", [1]), "training"),
    ("training metrics a list", _set("training", "metrics", [1]), "training.metrics"),
    ("config width a million", _set("config", "width", 1_000_000), "do not match"),
    ("config width 3000", _set("config", "width", 3000), "do not match"),
    ("config width 2**40", _set("config", "width", 2**40), "out of range"),
    ("config width text", _set("config", "width", "abc"), "'width' must be int"),
    ("config width negative", _set("config", "width", -8), "'width' must be >= 1"),
    ("config width nan", _set("config", "width", float("nan")), "config.width"),
    ("config width true", _set("config", "width", True), "'width' must be int"),
    ("config activation unknown", _set("config", "activation", "gelu!"), "activation"),
    ("config arch unknown", _set("config", "arch", "transformer"), "unknown arch"),
    ("config a million blocks", _described(lambda h: h["config"].update(arch="resnet", blocks_per_stage=10**6,
                                                                        multipliers=[1])), "far larger"),
    ("config nested deep", _set("config", "extra", [[[[[[1]]]]]]), "nested too deeply"),
    ("config huge string", _set("config", "activation", "x" * 5000), "5000-character"),
    # weights (class 2)
    ("weights int32", _retype(torch.int32), "not floating point"),
    ("weights bool", _retype(torch.bool), "not floating point"),
    ("weights int8", _retype(torch.int8), "not floating point"),
    ("weights nan", _poison(float("nan")), "non-finite"),
    ("weights inf", _poison(float("inf")), "non-finite"),
    ("weights missing", _weights(lambda t: t.pop(_first_weight(t))), "missing"),
    ("weights extra", _weights(lambda t: t.__setitem__("model.evil", torch.zeros(2))), "unexpected"),
    ("weights wrong shape", _weights(lambda t: t.__setitem__(_first_weight(t), torch.zeros(3))), "wrong shape"),
]


@pytest.mark.parametrize(("name", "make", "needle"), CASES, ids=[c[0] for c in CASES])
def test_hostile_checkpoint_is_refused_by_info_and_run(good: Path, tmp_path: Path, refused, name: str,
                                                       make: Callable[[Path, Path], None], needle: str) -> None:
    bad = tmp_path / "bad.safetensors"
    make(good, bad)
    refused(["info", bad], needle, root=tmp_path)
    refused(["run", "energy", "--model", bad, "--out", tmp_path / "run", "--quiet"], needle, root=tmp_path)
    assert not (tmp_path / "run").exists()


def test_absurd_width_is_refused_without_allocating(good: Path, tmp_path: Path) -> None:
    """width=1000000 would need terabytes; the meta-device comparison refuses it with almost no memory."""
    bad = tmp_path / "wide.safetensors"
    _set("config", "width", 1_000_000)(good, bad)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(bad)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6 and time.perf_counter() - start < 30


def test_checkpoint_path_that_is_a_directory_or_fifo_names_its_kind(tmp_path: Path, refused) -> None:
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    refused(["info", folder], "no checkpoint at", "a directory")
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "pipe.safetensors"
        os.mkfifo(fifo)
        refused(["info", fifo], "no checkpoint at", "FIFO")  # never opened: opening a FIFO would block


def test_huge_header_is_refused_before_it_is_read(tmp_path: Path, refused) -> None:
    bad = tmp_path / "huge.safetensors"
    with open(bad, "wb") as fh:
        fh.write(struct.pack("<Q", 64 * 1024 * 1024))
        fh.truncate(8 + 64 * 1024 * 1024)  # sparse: no disk used
    refused(["info", bad], "header is 67108864 bytes")


def test_floating_point_weights_of_other_precisions_still_load(good: Path, tmp_path: Path) -> None:
    half = tmp_path / "half.safetensors"
    _retype(torch.float64)(good, half)
    assert load_checkpoint(half).model.info.dataset == "digits"


def test_hostile_terminal_escapes_in_a_description_are_shown_escaped(good: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ebmbench.cli import main

    bad = tmp_path / "escapes.safetensors"
    _described(lambda h: h["training"].update(config={"note": "\x1b]0;pwned\x07\x1b[2J"}))(good, bad)
    result = CliRunner().invoke(main, ["info", str(bad)])
    assert result.exit_code == 0 and "\x1b" not in result.output and "\\x1b" in result.output
