import hashlib
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ebmbench.cli import main

FACTORY = '''
import torch
from torch import nn

import ebmbench


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.SiLU(), nn.Linear(16, 10))

    def forward(self, x):
        return self.body(x)


def build():
    return ebmbench.wrap(Net(), energy="logits", input_shape=(1, 8, 8), value_range=(-1, 1), num_classes=10,
                         dataset="digits")


def bare():
    return Net()
'''


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mymodels.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # so the test itself can build the reference Net
    import mymodels

    torch.manual_seed(1)
    torch.save(mymodels.Net().state_dict(), tmp_path / "weights.pt")
    return tmp_path


def _run(*args: str):
    return CliRunner().invoke(main, ["run", "energy", *args, "--set", "noise_n=20", "--quiet"])


def test_model_factory_runs_user_code_and_records_its_hash(user_code: Path) -> None:
    result = _run("--model-factory", "mymodels:build", "--weights", "weights.pt", "--out", "run")
    assert result.exit_code == 0, result.output
    manifest = json.loads((user_code / "run" / "manifest.json").read_text())
    source_hash = hashlib.sha256((user_code / "mymodels.py").read_bytes()).hexdigest()
    assert manifest["factory"] == "mymodels:build" and manifest["factory_sha256"] == source_hash
    assert manifest["identity"]["factory_sha256"] == source_hash
    assert manifest["identity"]["checkpoint_sha256"] == hashlib.sha256(
        (user_code / "weights.pt").read_bytes()).hexdigest()
    records = [json.loads(line) for line in (user_code / "run" / "results.jsonl").read_text().splitlines()]
    assert {r["model"] for r in records} == {"weights"}


def test_model_factory_weights_as_safetensors_match_the_torch_file(user_code: Path) -> None:
    from safetensors.torch import save_file

    save_file(torch.load(user_code / "weights.pt", weights_only=True), str(user_code / "weights.safetensors"))
    a = _run("--model-factory", "mymodels:build", "--weights", "weights.pt", "--out", "a")
    b = _run("--model-factory", "mymodels:build", "--weights", "weights.safetensors", "--out", "b")
    assert a.exit_code == 0 and b.exit_code == 0
    values = [[json.loads(x)["value"] for x in (user_code / d / "results.jsonl").read_text().splitlines()]
              for d in ("a", "b")]
    assert values[0] == values[1]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_model_factory_refusals_are_one_line(user_code: Path, refused) -> None:
    marker = user_code / "pwned.txt"
    torch.save({"body.1.weight": _Payload(marker)}, user_code / "evil.pt")
    refused(["run", "energy", "--model-factory", "mymodels:build", "--weights", "evil.pt"],
            "needs full unpickling", "weights_only=True")
    assert not marker.exists()
    refused(["run", "energy", "--model-factory", "mymodels:bare", "--weights", "weights.pt"], "bare torch module",
            "ebmbench.wrap")
    refused(["run", "energy", "--model-factory", "mymodels:nothing", "--weights", "weights.pt"], "no function")
    refused(["run", "energy", "--model-factory", "nomodule:build", "--weights", "weights.pt"], "cannot import")
    refused(["run", "energy", "--model-factory", "mymodels", "--weights", "weights.pt"], "pkg.module:function")
    refused(["run", "energy", "--model-factory", "mymodels:build"], "--weights goes with --model-factory")
    refused(["run", "energy"], "either --model")
    torch.save({"body.1.weight": torch.zeros(3)}, user_code / "wrong.pt")
    refused(["run", "energy", "--model-factory", "mymodels:build", "--weights", "wrong.pt"], "do not fit")


def test_a_checkpoint_alone_never_imports_code(user_code: Path, tiny_ebm_path: Path, refused) -> None:
    """A checkpoint whose description names a module as its family is refused by name; the module is never
    imported (it would write a marker file on import)."""
    from safetensors.torch import load_file, save_file

    from ebmbench.checkpoint import read_header

    marker = user_code / "imported.txt"
    (user_code / "evilmod.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\nclass Model: pass\n")
    header = read_header(tiny_ebm_path)
    header["family"] = "evilmod:Model"
    save_file(load_file(str(tiny_ebm_path)), str(user_code / "evil.safetensors"),
              metadata={"ebmbench": json.dumps(header)})
    result = CliRunner().invoke(main, ["run", "energy", "--model", "evil.safetensors"])
    assert result.exit_code == 2 and not marker.exists(), result.output
