import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from ebmbench.checkpoint import read_header
from ebmbench.cli import main


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_and_version() -> None:
    assert "Train energy-based models" in _invoke("--help").output
    assert "0.1.0" in _invoke("--version").output
    for command in ("train", "info", "run", "list", "quickstart", "report", "compare", "stats"):
        result = _invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_list_shows_suites_datasets_models() -> None:
    out = _invoke("list").output
    for name in ("energy", "digits", "cifar10", "uniform", "ebm", "classifier"):
        assert name in out


def test_info_describes_checkpoint(tiny_cond_ebm_path: Path) -> None:
    out = _invoke("info", str(tiny_cond_ebm_path)).output
    for needle in ("family            ebm", "1x8x8", "conditional       true", "training steps    3", "sha256",
                   "trained on        1 process", "loads             yes"):
        assert needle in out


def test_info_says_when_the_weights_do_not_match_the_description(tiny_cond_ebm_path: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.safetensors"
    tensors = load_file(str(tiny_cond_ebm_path))
    first = next(k for k in tensors if k.startswith("model."))
    tensors[first] = tensors[first].flatten()[:1]
    save_file(tensors, str(damaged), metadata={"ebmbench": json.dumps(read_header(tiny_cond_ebm_path))})
    result = CliRunner().invoke(main, ["info", str(damaged)])
    assert result.exit_code == 2 and "family            ebm" in result.output
    assert "weights do not match" in result.output and "loads" not in result.output




def test_train_writes_checkpoint_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    args = ["train", "--out", str(out), "--quiet", "--set", "iterations=2", "--set", "width=8",
            "--set", "batch_size=16", "--set", "sample_steps=2"]
    assert _invoke(*args).exit_code == 0 and out.exists()
    again = _invoke(*args)
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = _invoke(*args[:-2], "--set", "sample_steps=2", "--resume")
    assert resumed.exit_code == 0


def test_no_progress_bars_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = _invoke("train", "--out", str(tmp_path / "m.safetensors"), "--set", "iterations=3", "--set", "width=8",
                     "--set", "batch_size=16", "--set", "sample_steps=2")  # no --quiet; CliRunner's stderr is no TTY
    assert result.exit_code == 0 and "it/s" not in result.output and "train ebm" not in result.output


def test_run_energy_suite_end_to_end_and_resume(tiny_ebm_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _invoke("run", "energy", "--model", str(tiny_ebm_path), "--out", str(out), "--quiet",
                     "--set", "noise_n=50")
    assert result.exit_code == 0, result.output
    assert "train_test_gap" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["options"]["noise_n"] == 50 and manifest["status"] == "complete"
    assert (out / "energy_hist.png").exists()
    before = (out / "results.jsonl").read_text()
    again = _invoke("run", "energy", "--model", str(tiny_ebm_path), "--out", str(out), "--quiet",
                    "--set", "noise_n=50")
    assert again.exit_code == 0 and (out / "results.jsonl").read_text() == before
    clash = _invoke("run", "energy", "--model", str(tiny_ebm_path), "--out", str(out), "--quiet",
                    "--set", "noise_n=60")
    assert clash.exit_code == 2 and "different run" in clash.output


def test_user_errors_are_one_line_with_nonzero_exit(tiny_ebm_path: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # default run directories would land here
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 3)
    cases = [
        (["run", "enrgy", "--model", str(tiny_ebm_path)], "did you mean 'energy'"),
        (["run", "energy", "--model", str(bad)], "too short"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--set", "nosie_n=3"], "did you mean 'noise_n'"),
        (["info", str(tmp_path / "missing.safetensors")], "no checkpoint at"),
        (["train", "--kind", "ebm", "--dataset", "cifar10", "--out", str(tmp_path / "c.safetensors")],
         "cifar-10-batches-py"),
        (["train", "--kind", "dummy", "--out", str(tmp_path / "d.safetensors")], "cannot be trained"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--baseline", "oops"], "NAME=CHECKPOINT"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--baseline", f"b={tiny_ebm_path}"],
         "does not use --baseline"),
        (["run", "ood", "--model", str(tiny_ebm_path), "--baseline", f"{tiny_ebm_path.stem}={tiny_ebm_path}"],
         "has the model's own name"),
        (["run", "ood", "--model", str(tiny_ebm_path), "--baseline", f"b={tiny_ebm_path}", "--baseline",
          f"b={tiny_ebm_path}"], "names 'b' twice"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--set", "batch_size=0"], "batch_size=0 (must be >= 1)"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--device", "bogus"], "unknown device 'bogus'"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--device", ""], "unknown device ''"),
        (["run", "energy", "--model", str(tiny_ebm_path), "--out", str(tiny_ebm_path / "run")], "cannot write"),
        (["train", "--out", str(tmp_path / "i.safetensors"), "--set", "iterations=0"], "iterations=0 (must be"),
        (["train", "--out", str(tmp_path / "l.safetensors"), "--set", "lr=-1"], "`train --kind ebm`: lr=-1.0"),
        (["run", "robustness", "--model", str(tiny_ebm_path)], "conditional=true`, has logits"),
        (["quickstart", "--suites", "bogus", "--cache-dir", str(tmp_path / "qc")], "unknown suite 'bogus'"),
        (["quickstart", "--suites", ",", "--cache-dir", str(tmp_path / "qc")], "names no suite"),
        (["--bogus"], "No such option '--bogus'"),
        (["--versio"], "Did you mean '--version'?"),
    ]
    for args, needle in cases:
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert result.output.strip().count("\n") == 0, result.output
    assert not (tmp_path / "qc").exists()  # the quickstart refused its suites before training anything
    assert [p.name for p in tmp_path.iterdir()] == ["bad.safetensors"]  # nothing trained, no run directory


def test_real_process_prints_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "ebmbench.cli", "info", str(tmp_path / "x.safetensors")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no checkpoint at")
    assert "Traceback" not in proc.stderr


def test_quickstart_trains_once_runs_suites_and_writes_reports(tmp_path: Path) -> None:
    args = ["quickstart", "--out", str(tmp_path / "qs"), "--cache-dir", str(tmp_path / "cache"), "--iterations", "2",
            "--suites", "energy", "--quiet"]
    first = _invoke(*args)
    assert first.exit_code == 0, first.output
    (model,) = (tmp_path / "cache" / "models").glob("ebm-digits-*.safetensors")
    stamp = model.stat().st_mtime_ns
    records = [json.loads(line) for line in (tmp_path / "qs" / "energy" / "results.jsonl").read_text().splitlines()]
    mean = next(r for r in records if r["metric"] == "energy_mean" and r["eval_set"] == "test")
    assert {r["suite"] for r in records} == {"energy"} and mean["model"] == "ebm-digits"
    report = (tmp_path / "qs" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| energy_mean | test |"))
    assert float(row.split("|")[3].split("±")[0]) == pytest.approx(mean["value"], rel=1e-3)  # the run's number
    assert "<table" in (tmp_path / "qs" / "report.html").read_text()
    second = _invoke(*args)
    assert second.exit_code == 0, second.output
    assert model.stat().st_mtime_ns == stamp  # reused, not retrained
    assert _invoke(*args[:-3], "--suites", "enrgy").exit_code == 2


def test_loading_the_cli_does_not_import_torch() -> None:
    code = "import sys, ebmbench.cli; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
