import json
from pathlib import Path

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.records import Record
from ebmbench.rundir import RunDir


def _rec(metric: str, value: float) -> Record:
    return Record("s", "1", "m", "digits", "test", metric, value, n=3, seed=0, higher_is_better=True)


def test_manifest_fields_and_commit(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    assert run.start({"suite": "s", "seed": 0}, {"device": "cpu"}) is False
    manifest = run.manifest()
    for key in ("ebmbench_version", "git_revision", "torch_version", "started_at", "identity", "device"):
        assert key in manifest
    run.commit("u1", [_rec("a", 1.0), _rec("b", 2.0)])
    run.finish()
    assert run.manifest()["status"] == "complete" and "finished_at" in run.manifest()
    lines = run.results_path.read_text().splitlines()
    assert [json.loads(line)["metric"] for line in lines] == ["a", "b"]
    fields = set(json.loads(lines[0]))
    assert {"suite", "suite_version", "model", "dataset", "eval_set", "metric", "value", "ci_low", "ci_high", "n",
            "seed", "higher_is_better", "extra"} <= fields


def test_resume_skips_done_units_and_recommit_replaces(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.start({"k": 1}, {})
    run.commit("u1", [_rec("a", 1.0)])
    again = RunDir(tmp_path)
    assert again.start({"k": 1}, {}) is True
    assert again.done_units() == {"u1"}
    again.commit("u1", [_rec("a", 5.0)])
    assert [r.value for r in again.records()] == [5.0]


def test_different_identity_is_refused_unless_overwrite(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.start({"k": 1}, {})
    run.commit("u1", [_rec("a", 1.0)])
    with pytest.raises(EbmbenchError, match="holds a different run"):
        RunDir(tmp_path).start({"k": 2}, {})
    assert RunDir(tmp_path).start({"k": 2}, {}, overwrite=True) is False
    assert RunDir(tmp_path).records() == []


def test_failed_write_leaves_previous_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunDir(tmp_path)
    run.start({"k": 1}, {})
    run.commit("u1", [_rec("a", 1.0)])
    before = run.results_path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("ebmbench.atomic.os.replace", boom)
    with pytest.raises(OSError):
        run.commit("u2", [_rec("b", 2.0)])
    assert run.results_path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "results.jsonl"]


def test_non_finite_values_survive_round_trip(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.start({}, {})
    run.commit("u", [_rec("a", float("inf"))])
    assert run.records()[0].value == float("inf")


@pytest.mark.parametrize("value", ['"abc"', "null", "true"])
def test_bad_values_in_results_are_a_clear_error(tmp_path: Path, value: str) -> None:
    run = RunDir(tmp_path)
    run.start({}, {})
    run.commit("u", [_rec("a", 1.0)])
    text = run.results_path.read_text().replace('"value": 1.0', f'"value": {value}')
    run.results_path.write_text(text)
    with pytest.raises(EbmbenchError, match="corrupt"):
        run.records()


def test_overwrite_removes_what_the_previous_run_wrote_and_keeps_the_users_files(tmp_path: Path) -> None:
    old = RunDir(tmp_path)
    old.start({"suite": "ood"}, {})
    old.file("scores/uniform.csv").write_text("old scores")
    old.file("ood_table.md").write_text("old table")
    old.finish()
    (tmp_path / "notes.txt").write_text("mine")
    new = RunDir(tmp_path)
    assert new.start({"suite": "energy"}, {}, overwrite=True) is False
    assert not (tmp_path / "scores" / "uniform.csv").exists() and not (tmp_path / "ood_table.md").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine" and new.records() == []
    new.file("energy_hist.png").write_bytes(b"png")
    new.finish()
    assert new.manifest()["artifacts"] == ["energy_hist.png"]
