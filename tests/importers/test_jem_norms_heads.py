"""`ebmbench import jem` for every normalisation of JEM's WRN (--norm) and both of its models (--head ccf|f),
checked against the independent reference forward passes of tests/importers/reference_jem.py."""

import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from ebmbench.checkpoint import load_checkpoint, save_checkpoint
from ebmbench.cli import main
from ebmbench.errors import CapabilityError, CheckpointError, EbmbenchError
from ebmbench.importers.jem import import_jem
from ebmbench.models.base import Capability

NORMS = ("none", "batch", "instance", "layer", "act")
TOL = {"atol": 1e-5, "rtol": 0}


def _save(path: Path, ref: nn.Module, buffer: torch.Tensor | None = None) -> Path:
    content = {"model_state_dict": ref.state_dict()}
    if buffer is not None:
        content["replay_buffer"] = buffer
    torch.save(content, path)
    return path


def _inputs(n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand((n, 3, 32, 32), generator=g), torch.randint(0, 10, (n,), generator=g)


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))



def test_the_reference_norms_are_torch_modules_jem_uses(jem_reference) -> None:
    """The hand-written reference norms compute what JEM's nn.InstanceNorm2d(affine=True), nn.GroupNorm(1, C)
    and ActNorm (data-dependent start) compute, so the comparisons below test against JEM's layers."""
    ref = jem_reference(norm="instance").f.bn1, jem_reference(norm="layer").f.bn1
    x = torch.randn(4, 64, 8, 8) * 3 + 1
    for mine, theirs in zip(ref, (nn.InstanceNorm2d(64, affine=True), nn.GroupNorm(1, 64)), strict=True):
        theirs.load_state_dict(mine.state_dict())
        with torch.no_grad():
            assert torch.allclose(mine(x), theirs(x), atol=1e-5)
    act = jem_reference(norm="act", initialized=False).f.bn1
    with torch.no_grad():
        y = act(x)
    assert int(act.initialized) == 1
    assert y.transpose(0, 1).flatten(1).mean(1).abs().max() < 1e-4
    assert (y.transpose(0, 1).flatten(1).std(1) - 1).abs().max() < 1e-4


@pytest.mark.parametrize("head", ["ccf", "f"])
@pytest.mark.parametrize("norm", NORMS)
def test_every_norm_and_head_reproduces_the_reference(tmp_path: Path, norm: str, head: str, jem_reference) -> None:
    ref = jem_reference(norm=norm, uncond=head == "f")
    buffer = torch.rand(8, 3, 32, 32) * 2 - 1
    src = _save(tmp_path / "ckpt.pt", ref, buffer)
    given = norm if norm in ("instance", "layer") else None  # the others are read off the weights
    ckpt = load_checkpoint(import_jem(src, tmp_path / "jem.safetensors", norm=given, head=head))
    model = ckpt.model
    assert (model.config["norm"], model.config["head"]) == (norm, head)
    assert ckpt.training["imported_from"]["norm"] == norm and ckpt.training["imported_from"]["head"] == head
    assert model.info.conditional == (head == "ccf")
    assert model.capabilities == {Capability.ENERGY, Capability.SAMPLE, Capability.LOGITS}
    x, y = _inputs()
    x_jem = 2 * x - 1
    with torch.no_grad():
        assert torch.allclose(model.logits(x), ref.classify(x_jem), **TOL)
        assert torch.allclose(-model.energy(x), ref(x_jem), **TOL)
        if head == "ccf":
            assert torch.allclose(-model.energy(x, y), ref(x_jem, y)[:, 0], **TOL)
            assert torch.allclose(model.energy_all_classes(x), -ref.classify(x_jem), **TOL)
        else:
            # F's energy is its own head, not the logits' logsumexp; labels do not change it
            assert not torch.allclose(-model.energy(x), ref.classify(x_jem).logsumexp(1), atol=1e-3)
            assert torch.allclose(model.energy(x, y), model.energy(x), **TOL)
            with pytest.raises(CapabilityError, match="not conditional"):
                model.energy_all_classes(x)
    # round trip: the imported model saved again and reloaded gives the same numbers
    again = load_checkpoint(save_checkpoint(tmp_path / "again.safetensors", model)).model
    assert (again.config["norm"], again.config["head"], again.info.conditional) == (norm, head, head == "ccf")
    with torch.no_grad():
        assert torch.equal(again.energy(x), model.energy(x)) and torch.equal(again.logits(x), model.logits(x))


def test_the_wrong_norm_or_head_gives_other_numbers(tmp_path: Path, jem_reference) -> None:
    """Instance and layer weights look alike, and so do F and CCF: the choice is real, so it is asked for."""
    x, _ = _inputs()
    inst = _save(tmp_path / "inst.pt", jem_reference(norm="instance"))
    as_layer = load_checkpoint(import_jem(inst, tmp_path / "l.safetensors", norm="layer")).model
    with torch.no_grad():
        assert not torch.allclose(as_layer.logits(x), jem_reference(norm="instance").classify(2 * x - 1), atol=1e-3)
    f = jem_reference(uncond=True)
    as_ccf = load_checkpoint(import_jem(_save(tmp_path / "f.pt", f), tmp_path / "c.safetensors")).model
    with torch.no_grad():
        assert not torch.allclose(-as_ccf.energy(x), f(2 * x - 1), atol=1e-3)


@pytest.mark.parametrize("norm", ["instance", "layer"])
def test_instance_and_layer_weights_need_norm_and_the_cli_says_so(tmp_path: Path, norm: str, jem_reference,
                                                                 refused) -> None:
    src = _save(tmp_path / "ckpt.pt", jem_reference(norm=norm))
    out = tmp_path / "x.safetensors"
    line = refused(["import", "jem", str(src), "--out", str(out)], "--norm instance|layer")
    assert "instance and layer" in line
    assert not out.exists()
    with pytest.raises(CheckpointError, match=re.escape("--norm instance|layer")):
        import_jem(src, out)
    ok = _cli("import", "jem", str(src), "--out", str(out), "--norm", norm)
    assert ok.exit_code == 0, ok.output
    assert load_checkpoint(out).model.config["norm"] == norm


@pytest.mark.parametrize(("made", "given", "fits"), [
    ("none", "batch", "none"), ("batch", "instance", "batch"), ("act", "layer", "act"), ("instance", "act",
                                                                                         "instance or layer")])
def test_a_norm_the_weights_contradict_is_refused(tmp_path: Path, made: str, given: str, fits: str,
                                                  jem_reference, refused) -> None:
    src = _save(tmp_path / "ckpt.pt", jem_reference(norm=made))
    refused(["import", "jem", src, "--out", tmp_path / "x.safetensors", "--norm", given],
            f"--norm {given} does not fit", f"--norm {fits}")
    assert not (tmp_path / "x.safetensors").exists()


def test_unstarted_actnorm_and_unknown_norm_tensors_are_refused(tmp_path: Path, jem_reference, refused) -> None:
    src = _save(tmp_path / "fresh.pt", jem_reference(norm="act", initialized=False))
    refused(["import", "jem", str(src), "--out", str(tmp_path / "a.safetensors")],
                     "never initialised", "f.layer1.0.bn1")
    state = jem_reference(norm="instance").state_dict()
    state["f.bn1.running_mean"] = torch.zeros(64)  # weight, bias and a mean: no JEM norm holds that
    torch.save({"model_state_dict": state}, tmp_path / "odd.pt")
    refused(["import", "jem", str(tmp_path / "odd.pt"), "--out", str(tmp_path / "b.safetensors")],
                     "not JEM's Wide ResNet", "f.bn1.running_mean")
    assert not list(tmp_path.glob("*.safetensors"))


def test_cli_head_f_and_bad_choices(tmp_path: Path, jem_reference, refused) -> None:
    f = jem_reference(uncond=True, norm="act")
    src = _save(tmp_path / "f.pt", f, torch.rand(6, 3, 32, 32) * 2 - 1)
    out = tmp_path / "f.safetensors"
    ok = _cli("import", "jem", str(src), "--out", str(out), "--head", "f")
    assert ok.exit_code == 0, ok.output
    ckpt = load_checkpoint(out)
    assert ckpt.training["imported_from"]["head"] == "f" and not ckpt.model.info.conditional
    x, _ = _inputs()
    with torch.no_grad():
        assert torch.allclose(-ckpt.model.energy(x), f(2 * x - 1), **TOL)
    refused(["import", "jem", str(src), "--out", str(tmp_path / "g.safetensors"), "--head", "uncond"],
                     "--head", "ccf", "f")
    refused(["import", "jem", str(src), "--out", str(tmp_path / "g.safetensors"), "--norm", "group"],
                     "--norm", "instance")
    with pytest.raises(EbmbenchError, match="--head must be one of ccf, f"):
        import_jem(src, tmp_path / "g.safetensors", head="uncond")


def test_the_cli_choices_are_the_models_norms_and_heads() -> None:
    from ebmbench.importers.cli import jem
    from ebmbench.models.jem import HEADS
    from ebmbench.models.wrn import NORMS as MODEL_NORMS

    choices = {p.name: tuple(p.type.choices) for p in jem.params if p.name in ("norm", "head")}
    assert choices == {"norm": MODEL_NORMS, "head": HEADS} and MODEL_NORMS == NORMS
