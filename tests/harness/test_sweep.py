"""``ebmbench sweep``: a plan expands to units, each an ordinary run directory; re-runs skip finished units; a
failed unit is reported without stopping the others; submitit's executors run the same units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.cli import main
from ebmbench.errors import EbmbenchError
from ebmbench.reports.report import write_reports
from ebmbench.rundir import RunDir
from ebmbench.runner import run_suite
from ebmbench.sweep import load_plan, run_sweep


def _plan(tmp_path: Path, ckpt: Path, extra: str = "") -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(f"""
out = "sweep"
seeds = [0, 1]
device = "cpu"

[checkpoints]
dummy = "{ckpt}"

[suites.energy]
grid = {{ noise_n = [20, 30] }}
set = ["batch_size=64"]
{extra}
""")
    return path


def test_plan_expands_to_units_with_their_own_run_directories(dummy_path: Path, tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path, dummy_path))
    assert len(plan.units) == 4
    assert {Path(u.out).relative_to(tmp_path / "sweep").as_posix() for u in plan.units} == {
        f"dummy/energy/noise_n={n}/seed-{s}" for n in (20, 30) for s in (0, 1)}
    assert {u.settings for u in plan.units} == {("batch_size=64", "noise_n=20"), ("batch_size=64", "noise_n=30")}


def test_sweep_runs_skips_finished_units_and_reports(dummy_path: Path, tmp_path: Path) -> None:
    plan = load_plan(_plan(tmp_path, dummy_path))
    outcomes = run_sweep(plan, jobs=1, echo=lambda _: None,
                         report=lambda paths, folder: write_reports(paths, folder, aggregate=True))
    assert [o.status for o in outcomes] == ["done"] * 4
    unit = plan.units[1]
    direct = run_suite("energy", dummy_path, tmp_path / "direct", unit.settings, device="cpu", seed=unit.seed,
                       progress=False, model_name="dummy")
    assert [r.to_json() for r in RunDir(unit.out).records()] == [r.to_json() for r in direct.records()]
    assert (plan.out / "report.md").is_file() and (plan.out / "report.html").is_file()
    assert "energy" in (plan.out / "report.md").read_text()
    again = run_sweep(plan, jobs=1, echo=lambda _: None)
    assert [o.status for o in again] == ["skipped"] * 4
    summary = json.loads((plan.out / "sweep.json").read_text())
    assert summary["counts"] == {"done": 0, "skipped": 4, "failed": 0}


def test_a_failed_unit_does_not_stop_the_others(dummy_path: Path, tmp_path: Path) -> None:
    # robustness needs a classifier: the dummy energy cannot take part, energy units still run
    plan = load_plan(_plan(tmp_path, dummy_path, "[suites.robustness]\nseeds = [0]\n"))
    outcomes = run_sweep(plan, jobs=1, echo=lambda _: None)
    statuses = {Path(o.unit).parts[-3 if "noise_n" in o.unit else -2]: o.status for o in outcomes}
    assert statuses["robustness"] == "failed" and statuses["energy"] == "done"
    failed = next(o for o in outcomes if o.status == "failed")
    assert "logits" in failed.error or "classif" in failed.error


def test_cli_sweep_exit_code_and_summary(dummy_path: Path, tmp_path: Path) -> None:
    path = _plan(tmp_path, dummy_path, "[suites.robustness]\nseeds = [0]\n")
    result = CliRunner().invoke(main, ["sweep", str(path)])
    assert result.exit_code == 1, result.output
    assert "4 done, 0 skipped, 1 failed" in result.output


def test_cli_dry_run_lists_units_and_runs_nothing(dummy_path: Path, tmp_path: Path) -> None:
    path = _plan(tmp_path, dummy_path)
    plan = load_plan(path)
    result = CliRunner().invoke(main, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "4 units, 0 done, 4 to run" in result.output and not (tmp_path / "sweep").exists()
    run_sweep(load_plan(path), jobs=1, echo=lambda _: None)
    result = CliRunner().invoke(main, ["sweep", str(path), "--dry-run"])
    assert "4 units, 4 done, 0 to run" in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("done")]
    assert len(lines) == 4 and all(u.label in result.output for u in plan.units)
    assert "energy on dummy, seed 1, batch_size=64 noise_n=30" in result.output


def test_submitit_local_executor_runs_the_units(dummy_path: Path, tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    path = tmp_path / "plan.toml"
    path.write_text(f'seeds = [0]\ndevice = "cpu"\n[checkpoints]\ndummy = "{dummy_path}"\n'
                    '[suites.energy]\nset = ["noise_n=20"]\n')
    plan = load_plan(path, tmp_path / "out")
    outcomes = run_sweep(plan, jobs=1, executor="debug", echo=lambda _: None)
    assert [o.status for o in outcomes] == ["done"]
    assert RunDir(plan.units[0].out).manifest()["status"] == "complete"


@pytest.mark.parametrize("text,message", [
    ("seeds = [0]\n[checkpoints]\nx = 'missing.safetensors'\n[suites.energy]\n", "not found"),
    ("sedes = [0]\n", "did you mean 'seeds'"),
    ("[checkpoints]\nx = '{ckpt}'\n[suites.enrgy]\n", "energy"),
    ("[checkpoints]\nx = '{ckpt}'\n[suites.energy]\nset = ['nois_n=3']\n", "noise_n"),
    ("[checkpoints]\nx = '{ckpt}'\n[suites.energy]\ngird = {{}}\n", "did you mean 'grid'"),
    ("not toml = = 1", "not valid TOML"),
])
def test_bad_plans_get_one_line(dummy_path: Path, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(text.format(ckpt=dummy_path))
    with pytest.raises(EbmbenchError, match=message):
        load_plan(path)
