"""Loading run directories: discovery, the tidy frame, and one-line errors for unusable input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.reports.load import find_run_dirs, load_runs


def test_frame_holds_every_record_with_metadata_and_direction(make_run, record) -> None:
    path = make_run("q", [record(suite="quality", metric="fid", value=40.5, extra={"extractor": "cnn", "steps": 10}),
                          record(metric="energy_mean", value=-3.0)])
    frame = load_runs([path]).frame
    assert len(frame) == 2
    fid = frame[frame["metric"] == "fid"].iloc[0]
    assert (fid["value"], fid["extractor"], fid["steps"], fid["run"]) == (40.5, "cnn", 10, str(path))
    assert fid["higher_is_better"] is False  # known direction filled in for a record that left it out
    assert frame[frame["metric"] == "energy_mean"].iloc[0]["higher_is_better"] is None


def test_record_direction_wins_over_the_default(make_run, record) -> None:
    frame = load_runs([make_run("r", [record(metric="fid", higher_is_better=True)])]).frame
    assert frame.iloc[0]["higher_is_better"] is True


def test_a_folder_of_runs_is_searched_and_duplicates_dropped(make_run, record, tmp_path: Path) -> None:
    a, b = make_run("all/a", [record()]), make_run("all/nested/b", [record(model="glow")])
    assert find_run_dirs([tmp_path / "all", a]) == [a, b]
    assert set(load_runs([tmp_path / "all"]).frame["model"]) == {"ebm", "glow"}


def test_incomplete_runs_are_reported(make_run, record) -> None:
    path = make_run("x", [record()], status="failed: boom")
    assert load_runs([path]).incomplete() == {str(path): "failed: boom"}


@pytest.mark.parametrize("content", ["{not json\n", json.dumps({"suite": "ood"}) + "\n",
                                     json.dumps({"suite": "ood", "suite_version": "1", "model": "m", "dataset": "d",
                                                 "eval_set": "e", "metric": "auroc", "value": "abc"}) + "\n",
                                     json.dumps({"suite": "ood", "suite_version": "1", "model": "m", "dataset": "d",
                                                 "eval_set": "e", "metric": "auroc", "value": None}) + "\n"])
def test_corrupt_results_are_one_line_errors(make_run, record, content: str) -> None:
    path = make_run("c", [record()])
    (path / "results.jsonl").write_text(content)
    with pytest.raises(EbmbenchError, match="corrupt") as info:
        load_runs([path])
    assert "\n" not in str(info.value)


def test_missing_empty_and_foreign_directories_are_errors(make_run, tmp_path: Path) -> None:
    with pytest.raises(EbmbenchError, match="does not exist"):
        load_runs([tmp_path / "nope"])
    (tmp_path / "plain").mkdir()
    with pytest.raises(EbmbenchError, match="not a run directory"):
        load_runs([tmp_path / "plain"])
    with pytest.raises(EbmbenchError, match="no results"):
        load_runs([make_run("empty", [])])
