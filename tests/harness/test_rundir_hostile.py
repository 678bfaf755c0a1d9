"""Run directories under hostile or careless use: folders that are not run directories (never written into,
never offered --overwrite), a second writer (refused by the lock), SIGTERM (marked interrupted like Ctrl-C), a
killed run's leftovers (removed by --overwrite), artifact names that would leave the folder."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.rundir import LOCK, RunDir

# A real `ebmbench run energy` whose suite writes one plot and then waits: lets a test act on a live run.
SLOW_RUN = """
import sys, time
import ebmbench.suites.energy.suite as energy

def slow(self, ctx, plan):
    ctx.run.file("hist/stale.png").write_bytes(b"\\x89PNG from the killed run")
    print("started", flush=True)
    time.sleep(120)

energy.EnergySuite.run = slow
from ebmbench.cli import main
sys.argv = ["ebmbench", *sys.argv[1:]]
main()
"""


def _start_slow(model: Path, out: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", "energy", "--model", str(model), "--out",
                             str(out), "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if line.strip() != "started":
        proc.kill()
        raise AssertionError(f"the slow run did not start: {line!r} {proc.communicate()[1]}")
    return proc


def _energy(model: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "energy", "--model", str(model), "--out", str(out), "--quiet", "--set", "noise_n=8", *extra]


USER_FOLDERS = {
    "the user's own results.jsonl": {"results.jsonl": "my,own,numbers\n"},
    "the user's own manifest.json": {"manifest.json": '{"name": "my project"}'},
    "a damaged manifest": {"manifest.json": "{oops", "results.jsonl": "keep me\n"},
    "a manifest that is a list": {"manifest.json": "[1, 2]"},
    "unrelated files": {"thesis.tex": "\\section{x}", "data/img.png": "png"},
}


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("name", list(USER_FOLDERS))
def test_hostile_out_folder_that_is_not_a_run_is_refused_and_untouched(dummy_path: Path, tmp_path: Path, refused,
                                                                       name: str, overwrite: bool) -> None:
    folder = tmp_path / "mine"
    for rel, text in USER_FOLDERS[name].items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    line = refused(_energy(dummy_path, folder, *(["--overwrite"] if overwrite else [])), str(folder), root=folder)
    assert "--overwrite" not in line  # the advice never leads to deleting the user's files


def test_hostile_out_that_is_a_file_is_refused(dummy_path: Path, tmp_path: Path, refused) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    refused(_energy(dummy_path, target, "--overwrite"), "not a folder", root=tmp_path)


def test_empty_folder_is_a_fine_out(dummy_path: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ebmbench.cli import main

    (tmp_path / "empty").mkdir()
    assert CliRunner().invoke(main, _energy(dummy_path, tmp_path / "empty")).exit_code == 0


def test_second_writer_is_refused_and_sigterm_marks_the_run_interrupted(dummy_path: Path, tmp_path: Path,
                                                                         refused) -> None:
    """Two real processes: while the first writes, a second (even with --overwrite) gets one line and exit 2
    and changes nothing; SIGTERM then stops the first like Ctrl-C, and the run resumes afterwards."""
    out = tmp_path / "run"
    first = _start_slow(dummy_path, out, "--set", "noise_n=8")
    try:
        before = json.loads((out / "manifest.json").read_text())
        assert before["status"] == "running"
        refused(_energy(dummy_path, out, "--overwrite"), "in use by another ebmbench run", root=out)
        refused(_energy(dummy_path, out), "in use by another ebmbench run", root=out)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 143 and "terminated" in err and "Traceback" not in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    from click.testing import CliRunner

    from ebmbench.cli import main

    resumed = CliRunner().invoke(main, _energy(dummy_path, out))
    assert resumed.exit_code == 0 and json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_overwrite_after_a_killed_run_removes_its_stale_artifacts(dummy_path: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ebmbench.cli import main

    out = tmp_path / "run"
    killed = _start_slow(dummy_path, out, "--set", "noise_n=8")
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=60)
    assert (out / "hist" / "stale.png").is_file()  # the kill left it, listed nowhere but the manifest
    (out / "my_notes.txt").write_text("mine")
    result = CliRunner().invoke(main, _energy(dummy_path, out, "--overwrite", "--set", "batch_size=4"))
    assert result.exit_code == 0, result.output
    assert not (out / "hist" / "stale.png").exists() and (out / "my_notes.txt").read_text() == "mine"
    report = CliRunner().invoke(main, ["report", str(out), "--format", "html"])
    assert "stale" not in report.output


def test_lock_is_released_after_the_run(dummy_path: Path, tmp_path: Path) -> None:
    from filelock import FileLock

    run = RunDir(tmp_path / "r")
    with run.locked():
        run.start({"k": 1}, {})
    with FileLock(str(tmp_path / "r" / LOCK), timeout=0):
        pass


@pytest.mark.parametrize("name", ["../escape.png", "/tmp/abs.png", "a/../../b.png", ""])
def test_hostile_artifact_names_cannot_leave_the_run_directory(tmp_path: Path, name: str) -> None:
    run = RunDir(tmp_path / "r")
    run.start({"k": 1}, {})
    with pytest.raises(EbmbenchError, match="would leave the run directory"):
        run.file(name)


def test_overwrite_never_follows_links_or_listed_paths_outside(tmp_path: Path) -> None:
    """A manifest (ours, but edited) that lists a path outside, or a link: --overwrite deletes neither."""
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    run = RunDir(tmp_path / "r")
    run.start({"k": 1}, {})
    (tmp_path / "r" / "link.png").symlink_to(outside)
    manifest = run.manifest()
    manifest["artifacts"] = ["../precious.txt", "link.png", str(outside)]
    (tmp_path / "r" / "manifest.json").write_text(json.dumps(manifest))
    RunDir(tmp_path / "r").start({"k": 2}, {}, overwrite=True)
    assert outside.read_text() == "keep" and (tmp_path / "r" / "link.png").is_symlink()


def test_a_folder_with_only_ebmbench_leftovers_is_still_usable(tmp_path: Path) -> None:
    """A run killed before its first manifest leaves the lock and a temporary file: not the user's files."""
    from ebmbench.atomic import atomic_path

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / LOCK).write_text("")
    with atomic_path(folder / "manifest.json") as tmp:
        (folder / tmp.name.replace(".tmp-", ".tmp-left")).write_text("{")  # a leftover by the same naming rule
        tmp.write_text("{}")
    (folder / "manifest.json").unlink()
    assert RunDir(folder).start({"k": 1}, {}) is False
