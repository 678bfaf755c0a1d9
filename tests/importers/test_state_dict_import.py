from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ebmbench.checkpoint import load_checkpoint
from ebmbench.cli import main
from ebmbench.models.networks import build_network, resolve_arch


def _reference(arch: str, num_cond: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network(resolve_arch(arch), 3, out_dim=1, num_cond=num_cond)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "gain" in name or "bias" in name:
                p.normal_(0, 0.1)  # label modulation starts at zero: make it matter
    return net.eval()


@pytest.mark.parametrize("nesting", ["bare", "state_dict", "net_prefix", "safetensors"])
def test_igebm_state_dict_round_trip_reproduces_energies(tmp_path: Path, nesting: str) -> None:
    ref = _reference("igebm-cifar10")
    state = ref.state_dict()
    src = tmp_path / "w.pt"
    if nesting == "bare":
        torch.save(state, src)
    elif nesting == "state_dict":
        torch.save({"state_dict": state, "epoch": 3}, src)
    elif nesting == "net_prefix":
        torch.save({f"net.{k}": v for k, v in state.items()}, src)
    else:
        from safetensors.torch import save_file

        src = tmp_path / "w.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(src))
    out = tmp_path / "igebm.safetensors"
    result = CliRunner().invoke(main, ["import", "state-dict", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = load_checkpoint(out).model
    assert model.family == "ebm" and model.info.input_shape == (3, 32, 32) and not model.info.conditional
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(model.energy(x), ref(x).squeeze(-1), atol=1e-5, rtol=0)


def test_conditional_state_dict_keeps_label_energies(tmp_path: Path) -> None:
    ref = _reference("resnet", num_cond=10)
    torch.save(ref.state_dict(), tmp_path / "c.pt")
    out = tmp_path / "c.safetensors"
    result = CliRunner().invoke(main, ["import", "state-dict", str(tmp_path / "c.pt"), "--out", str(out), "--arch",
                                       "resnet", "--conditional"])
    assert result.exit_code == 0, result.output
    model = load_checkpoint(out).model
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 3, 5, 9])
    with torch.no_grad():
        assert torch.allclose(model.energy(x, y), ref(x, y).squeeze(-1), atol=1e-5, rtol=0)


def test_a_state_dict_for_another_architecture_is_refused_with_one_line(tmp_path: Path) -> None:
    torch.save(_reference("resnet").state_dict(), tmp_path / "r.pt")
    result = CliRunner().invoke(main, ["import", "state-dict", str(tmp_path / "r.pt"), "--out",
                                       str(tmp_path / "x.safetensors")])  # default arch: igebm-cifar10
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "do not fit the architecture" in result.output
    result = CliRunner().invoke(main, ["import", "state-dict", str(tmp_path / "r.pt"), "--out",
                                       str(tmp_path / "x.safetensors"), "--family", "glow"])
    assert result.exit_code == 2 and "imports families" in result.output
    torch.save([1, 2, 3], tmp_path / "list.pt")
    result = CliRunner().invoke(main, ["import", "state-dict", str(tmp_path / "list.pt"), "--out",
                                       str(tmp_path / "x.safetensors")])
    assert result.exit_code == 2 and "does not hold a state dict" in result.output
    assert not (tmp_path / "x.safetensors").exists()
