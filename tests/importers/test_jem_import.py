import pickle
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ebmbench.checkpoint import load_checkpoint
from ebmbench.cli import main
from ebmbench.importers.jem import import_jem


def _jem_file(path: Path, model: torch.nn.Module, buffer: torch.Tensor | None = None, **extra) -> Path:
    content = {"model_state_dict": model.state_dict(), **extra}
    if buffer is not None:
        content["replay_buffer"] = buffer
    torch.save(content, path)
    return path


def _inputs(shape=(3, 32, 32), n=6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand((n, *shape), generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_imported_jem_reproduces_the_reference_logits_and_energies(tmp_path: Path, norm: str,
                                                                  jem_reference) -> None:
    ref = jem_reference(norm=norm)
    buffer = torch.rand(20, 3, 32, 32) * 2 - 1
    src = _jem_file(tmp_path / "ckpt.pt", ref, buffer)
    ckpt = load_checkpoint(import_jem(src, tmp_path / "jem.safetensors"))
    model = ckpt.model
    assert model.family == "jem" and model.info.dataset == "cifar10" and model.info.input_shape == (3, 32, 32)
    assert model.config["depth"] == 10 and model.config["width"] == 1
    assert model.config["norm"] == norm and model.config["head"] == "ccf"
    x, y = _inputs()
    x_jem = 2 * x - 1  # JEM's Normalize((.5,)*3, (.5,)*3)
    with torch.no_grad():
        assert torch.allclose(model.logits(x), ref.classify(x_jem), atol=1e-5, rtol=0)
        assert torch.allclose(-model.energy(x), ref(x_jem), atol=1e-5, rtol=0)
        assert torch.allclose(-model.energy(x, y), ref(x_jem, y)[:, 0], atol=1e-5, rtol=0)
        assert torch.allclose(model.energy_all_classes(x), -ref.classify(x_jem), atol=1e-5, rtol=0)
    # the replay buffer is kept in [0, 1], 8-bit
    images = ckpt.state["state.buffer.images"]
    assert images.shape == (20, 3, 32, 32) and images.dtype == torch.uint8
    decoded = images.float() / 255
    assert (decoded - (buffer + 1) / 2).abs().max() <= 0.5 / 255 + 1e-6
    assert ckpt.training["imported_from"]["architecture"] == "WRN-10-1"


def test_depth_width_and_grey_digits_are_read_off_the_weights(tmp_path: Path, jem_reference) -> None:
    ref = jem_reference(depth=16, width=2, channels=1)
    src = _jem_file(tmp_path / "d.pt", ref)  # no replay buffer: fine
    model = load_checkpoint(import_jem(src, tmp_path / "d.safetensors", dataset="digits")).model
    assert (model.config["depth"], model.config["width"], model.info.input_shape) == (16, 2, (1, 8, 8))
    x, _ = _inputs((1, 8, 8))
    with torch.no_grad():
        assert torch.allclose(model.logits(x), ref.classify(2 * x - 1), atol=1e-5, rtol=0)


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))



def test_cli_imports_and_refuses_bad_files_with_one_line(tmp_path: Path, jem_reference, refused) -> None:
    ref = jem_reference()
    good = _jem_file(tmp_path / "good.pt", ref, torch.rand(4, 3, 32, 32))
    ok = _cli("import", "jem", str(good), "--out", str(tmp_path / "ok.safetensors"))
    assert ok.exit_code == 0, ok.output
    refused(["import", "jem", str(good), "--out", str(tmp_path / "ok.safetensors")], "exists")

    state = ref.state_dict()
    missing = dict(state)
    del missing["f.layer2.0.conv2.bias"]
    torch.save({"model_state_dict": missing}, tmp_path / "missing.pt")
    refused(["import", "jem", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "a.safetensors")],
                     "missing: f.layer2.0.conv2.bias")
    extra = {**state, "f.extra.weight": torch.zeros(3)}
    torch.save({"model_state_dict": extra}, tmp_path / "extra.pt")
    refused(["import", "jem", str(tmp_path / "extra.pt"), "--out", str(tmp_path / "b.safetensors")],
                     "unexpected: f.extra.weight")
    shape = {**state, "class_output.bias": torch.zeros(7)}
    torch.save({"model_state_dict": shape}, tmp_path / "shape.pt")
    refused(["import", "jem", str(tmp_path / "shape.pt"), "--out", str(tmp_path / "c.safetensors")],
                     "wrong shape: class_output.bias")
    torch.save(state, tmp_path / "bare.pt")  # a bare state dict is not JEM's format
    refused(["import", "jem", str(tmp_path / "bare.pt"), "--out", str(tmp_path / "d.safetensors")],
                     "not a JEM checkpoint")
    torch.save({"model_state_dict": state, "replay_buffer": torch.rand(4, 3, 16, 16)}, tmp_path / "buf.pt")
    refused(["import", "jem", str(tmp_path / "buf.pt"), "--out", str(tmp_path / "e.safetensors")],
                     "replay_buffer")
    (tmp_path / "text.pt").write_text("not weights at all\n")
    refused(["import", "jem", str(tmp_path / "text.pt"), "--out", str(tmp_path / "f.safetensors")],
                     "neither a torch file nor")
    refused(["import", "jem", str(tmp_path / "nothing.pt"), "--out", str(tmp_path / "g.safetensors")],
                     "no weights file")
    assert not any(tmp_path.glob("[a-g].safetensors"))


class _Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_a_file_that_needs_full_unpickling_is_refused_and_its_payload_never_runs(tmp_path: Path,
                                                                                 jem_reference, refused) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"model_state_dict": jem_reference().state_dict(), "replay_buffer": _Payload(marker)}, evil)
    refused(["import", "jem", evil, "--out", tmp_path / "x.safetensors"], "needs full unpickling", "exec",
            "weights_only=True")
    assert not marker.exists() and not (tmp_path / "x.safetensors").exists()
    raw = tmp_path / "evil.pkl"  # a plain (non-zip) pickle too
    raw.write_bytes(pickle.dumps({"model_state_dict": _Payload(marker)}, protocol=2))
    refused(["import", "jem", str(raw), "--out", str(tmp_path / "y.safetensors")],
                     "needs full unpickling")
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the payload is live: full unpickling does run it
    assert marker.read_text() == "pwned"
