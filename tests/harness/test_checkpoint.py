import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ebmbench.checkpoint import file_sha256, load_checkpoint, read_header, save_checkpoint
from ebmbench.errors import CheckpointError, EbmbenchError
from ebmbench.models.base import ModelInfo
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch


def _model(conditional: bool = True, width: int = 8) -> EnergyModel:
    info = ModelInfo("ebm", "digits", (1, 8, 8), 10, conditional=conditional)
    return EnergyModel(info, resolve_arch("small", width=width, spectral_norm=True))


def test_round_trip_preserves_weights_info_and_state(tmp_path: Path) -> None:
    model = _model()
    path = save_checkpoint(tmp_path / "m.safetensors", model, {"step": 7}, {"state.extra": torch.arange(3)})
    ckpt = load_checkpoint(path)
    assert ckpt.model.info == model.info
    assert ckpt.training["step"] == 7
    assert torch.equal(ckpt.state["state.extra"], torch.arange(3))
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    model.eval()
    assert torch.allclose(ckpt.model.energy(x, y), model.energy(x, y))
    assert ckpt.sha256 == file_sha256(path) and len(ckpt.sha256) == 64
    assert read_header(path)["family"] == "ebm"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_truncated_file(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", _model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)
    path.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="too short"):
        load_checkpoint(path)


def test_wrong_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("hello, this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint"):
        load_checkpoint(path)


def test_plain_safetensors_without_description(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="not an ebmbench checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("description,message", [
    ('{"format": "ebmbench-checkpoint", "family": "ebm"', "description is damaged or foreign"),
    ('["ebmbench-checkpoint"]', "description is damaged or foreign"),
    ('{"format": "other-tool", "format_version": 1}', "description is damaged or foreign"),
    ('{"format": "ebmbench-checkpoint", "format_version": 1, "family": "ebm", "config": {}}', "no valid info"),
    ('{"format": "ebmbench-checkpoint", "format_version": 99, "family": "ebm", "info": {}, "config": {}}',
     "format version 99.*upgrade ebmbench"),
])
def test_damaged_description_is_one_clear_error(tmp_path: Path, description: str, message: str) -> None:
    path = tmp_path / "damaged.safetensors"
    save_file({"model.w": torch.zeros(2)}, str(path), metadata={"ebmbench": description})
    with pytest.raises(CheckpointError, match=message):
        read_header(path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_config_that_does_not_match_weights(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", _model(width=8))
    header = read_header(path)
    header["config"]["width"] = 16
    _rewrite_header(path, header)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_unknown_family(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", _model())
    header = read_header(path)
    header["family"] = "ebmm"
    _rewrite_header(path, header)
    with pytest.raises(EbmbenchError, match="did you mean 'ebm'"):
        load_checkpoint(path)


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # runs os.system(...) if anything unpickles this object
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("via_torch", [False, True])
def test_pickle_payload_is_refused_and_never_executed(tmp_path: Path, via_torch: bool) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    if via_torch:
        torch.save({"w": torch.zeros(1), "x": _Payload(str(marker))}, path)
    else:
        path.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=2))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(path)
    assert not marker.exists()


def test_save_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "m.safetensors", _model())
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ebmbench.checkpoint.save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, _model())
    assert path.read_bytes() == before


def _rewrite_header(path: Path, header: dict) -> None:
    """Replace the ebmbench description inside a safetensors file, keeping the tensors."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    table = json.loads(data[8 : 8 + n])
    table["__metadata__"]["ebmbench"] = json.dumps(header)
    raw = json.dumps(table).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
