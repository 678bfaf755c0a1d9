"""Careless or hostile command lines, across the CLI: each is refused with exit 2, exactly one line on stderr,
no traceback, and nothing written or deleted under the working folder. (The classes with their own modules:
checkpoints in test_checkpoint_hostile.py, run directories in test_rundir_hostile.py, sizes in test_limits.py,
images in tests/data/test_folder_modes.py, compare in tests/reports/test_compare_hostile.py, report embedding and
escaping in tests/reports/test_report_hostile.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

Args = Callable[[Path, Path], list]


def _run(*extra: object) -> Args:
    return lambda model, tmp: ["run", "energy", "--model", model, "--out", tmp / "run", "--quiet", *extra]


def _train(*extra: object) -> Args:
    return lambda model, tmp: ["train", "--out", tmp / "new.safetensors", "--quiet", *extra]


# (case, command line from (a valid checkpoint, the working folder), words the one line contains)
CASES: list[tuple[str, Args, tuple[str, ...]]] = [
    ("seed past 2**63", _run("--seed", str(10**23)), ("--seed",)),
    ("seed negative", _run("--seed", "-1"), ("--seed",)),
    ("seed text", _run("--seed", "zero"), ("--seed",)),
    ("misspelt option", lambda m, t: ["run", "energy", "--modle", m], ("--model",)),
    ("set without =", _run("--set", "noise_n"), ("key=value",)),
    ("set empty key", _run("--set", "=5"), ("key=value",)),
    ("set unknown key", _run("--set", "nosie_n=5"), ("noise_n",)),
    ("set int as text", _run("--set", "noise_n=abc"), ("noise_n", "int")),
    ("set int as 1e400", _run("--set", "noise_n=1e400"), ("noise_n",)),
    ("set int as nan", _run("--set", "noise_n=nan"), ("noise_n",)),
    ("set zero size", _run("--set", "noise_n=0"), ("noise_n",)),
    ("set negative size", _run("--set", "batch_size=-3"), ("batch_size",)),
    ("unknown suite", lambda m, t: ["run", "energi", "--model", m, "--out", t / "r"], ("energi",)),
    ("model missing", lambda m, t: ["run", "energy", "--model", t / "nope.safetensors"], ("no checkpoint at",)),
    ("model is the working folder", lambda m, t: ["run", "energy", "--model", t, "--out", t / "r"],
     ("a directory",)),
    ("name with a newline", _run("--name", "ebm\nerror: all good"), ("--name",)),
    ("name with escape codes", _run("--name", "\x1b[31mred"), ("--name",)),
    ("name too long", _run("--name", "x" * 300), ("--name",)),
    ("baseline without =", _run("--baseline", "glow"), ("NAME=CHECKPOINT",)),
    ("baseline for a suite without baselines", lambda m, t: _run("--baseline", f"b={m}")(m, t),
     ("does not use --baseline",)),
    ("out is a file", lambda m, t: ["run", "energy", "--model", m, "--out", m], ("not a folder",)),
    ("train out is a folder", lambda m, t: ["train", "--out", t, "--quiet"], ("is a folder",)),
    ("train out under a file", lambda m, t: ["train", "--out", m / "x.safetensors", "--quiet"], ("cannot write",)),
    ("train out exists", lambda m, t: ["train", "--out", m, "--quiet"], ("--resume",)),
    ("train unknown kind", _train("--kind", "ebn"), ("ebn",)),
    ("train unknown dataset", _train("--dataset", "cifar11"), ("cifar11",)),
    ("train missing real dataset", lambda m, t: _train("--dataset", "cifar10", "--data-root", t / "data")(m, t),
     ("cifar10",)),
    ("train folder dataset missing", _train("--dataset", "folder:/nonexistent/x"), ("/nonexistent/x",)),
    ("info missing", lambda m, t: ["info", t / "missing.safetensors"], ("no checkpoint at",)),
    ("report missing", lambda m, t: ["report", t / "missing"], ("does not exist",)),
    ("report a file", lambda m, t: ["report", m], ("not a run directory",)),
    ("report an empty folder", lambda m, t: ["report", t], ("not a run directory",)),
    ("compare missing", lambda m, t: ["compare", t / "a", t / "b"], ("does not exist",)),
    ("path with a newline", lambda m, t: ["report", t / "a\nerror: fake second line"], ("a\\nerror",)),
    ("path with terminal escapes", lambda m, t: ["info", t / "\x1b[2Jx.safetensors"], ("\\x1b[2J",)),
    ("compare a folder of no runs", lambda m, t: ["compare", t, t, "--tolerance", t], ("not a run directory",)),
]


@pytest.mark.parametrize(("name", "args", "needles"), CASES, ids=[c[0] for c in CASES])
def test_hostile_command_line_is_one_line_and_touches_nothing(dummy_path: Path, tmp_path: Path, refused,
                                                              name: str, args: Args, needles: tuple[str, ...],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    model = work / "model.safetensors"
    model.write_bytes(dummy_path.read_bytes())
    monkeypatch.chdir(work)
    refused(args(model, work), *needles, root=work)
