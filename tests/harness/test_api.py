import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import ebmbench
from ebmbench.cli import main
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Capability
from ebmbench.rundir import RunDir


def test_import_ebmbench_is_light() -> None:
    code = "import sys, ebmbench; print('torch' in sys.modules); ebmbench.wrap; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "True"]  # torch only once an API function is asked for


def test_api_and_cli_give_identical_records_and_identity(tiny_cond_ebm_path: Path, tmp_path: Path) -> None:
    cli = CliRunner().invoke(main, ["run", "energy", "--model", str(tiny_cond_ebm_path), "--out",
                                    str(tmp_path / "cli"), "--seed", "3", "--set", "noise_n=40", "--quiet"])
    assert cli.exit_code == 0, cli.output
    model = ebmbench.load(tiny_cond_ebm_path)
    frame, path = ebmbench.evaluate(model, "energy", out=tmp_path / "api", options={"noise_n": 40}, seed=3)
    assert path == tmp_path / "api"
    by_cli = [r.to_json() for r in RunDir(tmp_path / "cli").records()]
    by_api = [r.to_json() for r in RunDir(path).records()]
    assert by_cli and by_cli == by_api
    assert list(frame.columns[:6]) == ["suite", "suite_version", "model", "dataset", "eval_set", "metric"]
    assert frame[["metric", "value"]].to_dict("records") == [{k: r[k] for k in ("metric", "value")} for r in by_api]
    manifests = [json.loads((p / "manifest.json").read_text()) for p in (tmp_path / "cli", path)]
    assert manifests[0]["identity"] == manifests[1]["identity"]
    assert manifests[1]["checkpoint"] == str(tiny_cond_ebm_path.resolve())


class TinyNet(nn.Module):
    """A 10-class classifier for 1x8x8 images in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.SiLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_wrap_logits_maps_the_value_range_and_derives_capabilities() -> None:
    net = TinyNet()
    model = ebmbench.wrap(net, energy="logits", input_shape=(1, 8, 8), value_range=(-1, 1), num_classes=10,
                          dataset="digits")
    assert model.capabilities == {Capability.ENERGY, Capability.LOGITS, Capability.SAMPLE}
    assert model.info.value_range == (0.0, 1.0) and model.info.conditional
    x = torch.rand(5, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3, 9])
    with torch.no_grad():
        logits = net(2 * x - 1)
        assert torch.allclose(model.logits(x), logits)
        assert torch.allclose(model.energy(x), -torch.logsumexp(logits, 1))
        assert torch.allclose(model.energy(x, y), -logits[torch.arange(5), y])
        assert torch.allclose(model.energy_all_classes(x), -logits)
    from ebmbench.sampler import LangevinConfig

    chains = model.sample(4, LangevinConfig(steps=3, step_size=0.1, noise=0.01), y=y[:4])
    assert chains.x.shape == (4, 1, 8, 8) and chains.x.min() >= 0 and chains.x.max() <= 1


def test_wrap_energy_head_and_callable() -> None:
    head = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    model = ebmbench.wrap(head, energy="head", input_shape=(1, 8, 8), dataset="digits")
    assert model.capabilities == {Capability.ENERGY, Capability.SAMPLE} and not model.info.conditional
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model.energy(x), head(x)[:, 0])
    neg = ebmbench.wrap(head, energy=lambda x, y: -head(x).squeeze(1), input_shape=(1, 8, 8), dataset="digits",
                        value_range=(-1, 1))
    with torch.no_grad():
        assert torch.allclose(neg.energy(x), -head(2 * x - 1)[:, 0])

    class CondHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(64, 10)

        def forward(self, x, y):
            return self.lin(x.flatten(1)).gather(1, y[:, None])

    cond = ebmbench.wrap(CondHead(), energy="head", input_shape=(1, 8, 8), num_classes=10, conditional=True,
                         dataset="digits")
    assert cond.has(Capability.LOGITS)
    with torch.no_grad():
        assert torch.allclose(cond.logits(x), -cond.net.lin(x.flatten(1)), atol=1e-6)
    bad = ebmbench.wrap(nn.Flatten(), energy="head", input_shape=(1, 8, 8), dataset="digits")
    with pytest.raises(EbmbenchError, match="one number per image"):
        bad.energy(x)
    with pytest.raises(EbmbenchError, match=r"torch\.nn\.Module"):
        ebmbench.wrap(lambda x: x)


def test_evaluate_a_wrapped_module_returns_a_dataframe(tmp_path: Path) -> None:
    model = ebmbench.wrap(TinyNet(), energy="logits", input_shape=(1, 8, 8), value_range=(-1, 1), num_classes=10,
                          dataset="digits", name="tiny")
    frame, path = ebmbench.evaluate(model, "energy", out=tmp_path / "run", options={"noise_n": 30})
    assert set(frame["suite"]) == {"energy"} and set(frame["model"]) == {"tiny"}
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["identity"]["checkpoint_sha256"]) == 64
    again, _ = ebmbench.evaluate(model, "energy", out=tmp_path / "run", options={"noise_n": 30})  # resumes
    assert again.equals(frame)


def test_save_writes_known_architectures_and_refuses_others(tmp_path: Path) -> None:
    from ebmbench.models.wrn import CCFNet

    torch.manual_seed(0)
    net = CCFNet(depth=10, width=1, in_channels=1, num_classes=10).eval()
    model = ebmbench.wrap(net, energy="logits", input_shape=(1, 8, 8), value_range=(-1, 1), num_classes=10,
                          dataset="digits")
    back = ebmbench.load(ebmbench.save(model, tmp_path / "jem.safetensors"))
    assert back.family == "jem"
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(back.logits(x), model.logits(x))
    # instance norm's tensors look like layer norm's: the module, not its state dict, says which it is
    inst = ebmbench.wrap(CCFNet(depth=10, width=1, in_channels=1, num_classes=10, norm="instance").eval(),
                         energy="logits", input_shape=(1, 8, 8), value_range=(-1, 1), num_classes=10, dataset="digits")
    back = ebmbench.load(ebmbench.save(inst, tmp_path / "inst.safetensors"))
    assert back.config["norm"] == "instance"
    with torch.no_grad():
        assert torch.equal(back.logits(x), inst.logits(x))
    other = ebmbench.wrap(TinyNet(), energy="logits", input_shape=(1, 8, 8), num_classes=10, dataset="digits")
    with pytest.raises(EbmbenchError, match="cannot save a wrapped TinyNet"):
        ebmbench.save(other, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_save_round_trips_ebmbench_families(tiny_cond_ebm_path: Path, tmp_path: Path) -> None:
    model = ebmbench.load(tiny_cond_ebm_path)
    back = ebmbench.load(ebmbench.save(model, tmp_path / "copy.safetensors"))
    assert back.family == model.family and back.info == model.info and back.config == model.config
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
