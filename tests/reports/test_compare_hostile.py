"""compare's exit-code contract on damaged input: whatever is wrong with either side's files, the answer is exit 2
with one line on stderr, and both --markdown and --junit are still written and name the problem. A CI gate must
never read a damaged file as a regression (exit 1) or crash."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.cli import main


def _line(path: Path, text: str) -> None:
    (path / "results.jsonl").write_text(text)


def _record(**changes: object) -> str:
    base = {"suite": "ood", "suite_version": "1", "model": "ebm", "dataset": "digits", "eval_set": "uniform",
            "metric": "auroc", "value": 0.9, "seed": 0, "extra": {}}
    return json.dumps({**base, **changes}) + "\n"


def _manifest(path: Path, data: bytes) -> None:
    (path / "manifest.json").write_bytes(data)


def _edit_manifest(**changes: object) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        manifest = json.loads((path / "manifest.json").read_text())
        _manifest(path, json.dumps({**manifest, **changes}).encode())
    return edit


# (name, damage, words the one-line message must contain)
DAMAGE: list[tuple[str, Callable[[Path], None], str]] = [
    ("manifest not utf-8", lambda p: _manifest(p, b'{"status": "complete\xff\xfe"}'), "not UTF-8"),
    ("manifest not json", lambda p: _manifest(p, b"{not json"), "not JSON"),
    ("manifest a json list", lambda p: _manifest(p, b"[1, 2]"), "not a JSON object"),
    ("manifest a json string", lambda p: _manifest(p, b'"complete"'), "not a JSON object"),
    ("manifest empty", lambda p: _manifest(p, b""), "not JSON"),
    ("manifest nested 100000 deep", lambda p: _manifest(p, b"[" * 100000 + b"]" * 100000), "manifest.json"),
    ("manifest status a list", _edit_manifest(status=["complete"]), "status"),
    ("manifest identity a string", _edit_manifest(identity="x"), "identity"),
    ("manifest model a number", _edit_manifest(model=3), "model"),
    ("manifest options a list", _edit_manifest(identity={"suite": "ood", "options": [1]}), "options"),
    ("results line a json array", lambda p: _line(p, _record() + '["suite", "ood"]\n'), "line 2"),
    ("results line a json string", lambda p: _line(p, '"auroc"\n'), "line 1"),
    ("results line a number", lambda p: _line(p, "3\n"), "line 1"),
    ("results line null", lambda p: _line(p, "null\n"), "line 1"),
    ("results truncated", lambda p: _line(p, _record() * 3 + _record()[:40]), "truncated results line 4"),
    ("results damaged mid-file", lambda p: _line(p, _record() + "{oops\n" + _record()), "damaged results line 2"),
    ("results not utf-8", lambda p: (p / "results.jsonl").write_bytes(_record().encode()[:-3] + b"\xff}\n"),
     "not UTF-8"),
    ("results value a list", lambda p: _line(p, _record(value=[0.9])), "value"),
    ("results value a bool", lambda p: _line(p, _record(value=True)), "value"),
    ("results value text", lambda p: _line(p, _record(value="high")), "value"),
    ("results value an object", lambda p: _line(p, _record(value={"v": 1})), "value"),
    ("results metric a number", lambda p: _line(p, _record(metric=7)), "metric"),
    ("results suite null", lambda p: _line(p, _record(suite=None)), "suite"),
    ("results extra a list", lambda p: _line(p, _record(extra=[1])), "extra"),
    ("results ci_low text", lambda p: _line(p, _record(ci_low="0.1")), "ci_low"),
    ("results n text", lambda p: _line(p, _record(n="100")), "'n'"),
    ("results higher_is_better text", lambda p: _line(p, _record(higher_is_better="yes")), "higher_is_better"),
    ("results without metric", lambda p: _line(p, json.dumps({"suite": "ood", "value": 1}) + "\n"), "lacks"),
    ("results empty", lambda p: _line(p, ""), "no results"),
    ("results blank lines", lambda p: _line(p, "\n  \n\n"), "no results"),
    ("results a directory", lambda p: ((p / "results.jsonl").unlink(), (p / "results.jsonl").mkdir()),
     "results.jsonl"),
    ("results nested deep", lambda p: _line(p, "[" * 100000 + "]" * 100000 + "\n"), "line 1"),
    ("baseline value nan", lambda p: _line(p, _record(value="nan")), "not comparable"),
]


@pytest.fixture
def pair(make_run, record) -> tuple[Path, Path]:
    recs = [record(value=0.9), record(metric="fpr95", value=0.1)]
    return make_run("baseline", recs), make_run("candidate", recs)


@pytest.mark.parametrize("side", ["baseline", "candidate"])
@pytest.mark.parametrize(("name", "damage", "needle"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_hostile_compare_input_is_exit_2_with_both_reports(pair, tmp_path: Path, side: str, name: str,
                                                           damage: Callable[[Path], None], needle: str) -> None:
    if name == "baseline value nan" and side == "candidate":
        pytest.skip("a non-finite candidate is a regression by design (the model broke), tested in test_compare")
    target = pair[0] if side == "baseline" else pair[1]
    damage(target)
    md, junit = tmp_path / "out" / "compare.md", tmp_path / "out" / "compare.xml"
    result = CliRunner().invoke(main, ["compare", str(pair[0]), str(pair[1]), "--markdown", str(md),
                                       "--junit", str(junit)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    if needle == "not comparable":  # readable input, judged: the verdict itself says why it is unusable
        assert needle in md.read_text() and "unusable input" in md.read_text()
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle.lower() in lines[0].lower(), lines
        assert "unusable input" in md.read_text() and needle.lower() in md.read_text().lower()
    root = ET.parse(junit).getroot()  # parseable XML, the problem as an error
    assert int(root.get("errors")) >= 1
    if needle != "not comparable":
        assert needle.lower() in ET.tostring(root, encoding="unicode").lower()


def test_unforeseen_failure_while_reading_is_still_unusable_input(pair, tmp_path: Path, monkeypatch) -> None:
    """The safety net: even a bug in reading (any exception) is exit 2 with both files, never exit 1."""
    import ebmbench.reports.load as load

    def broken(*args, **kwargs):
        raise AttributeError("'list' object has no attribute 'get'")

    monkeypatch.setattr(load, "_frame", broken)
    md, junit = tmp_path / "compare.md", tmp_path / "compare.xml"
    result = CliRunner().invoke(main, ["compare", str(pair[0]), str(pair[1]), "--markdown", str(md),
                                       "--junit", str(junit)])
    assert result.exit_code == 2 and "AttributeError" in result.stderr and result.stderr.count("\n") == 1
    assert "AttributeError" in md.read_text() and ET.parse(junit).getroot().get("errors") == "1"


def test_messages_with_markup_and_control_characters_stay_inert(make_run, record, tmp_path: Path) -> None:
    """A model name carrying HTML, a link, a pipe and a control character: Markdown shows it literally and the
    JUnit file stays valid XML."""
    evil = 'ebm<img src=x onerror=alert(1)>|[click](http://evil)\x07`'
    base = make_run("b", [record(model=evil, value=0.9)], model=evil)
    cand = make_run("c", [record(model=evil, value=0.1)], model=evil)
    md, junit = tmp_path / "compare.md", tmp_path / "compare.xml"
    result = CliRunner().invoke(main, ["compare", str(base), str(cand), "--markdown", str(md), "--junit", str(junit)])
    assert result.exit_code == 1
    text = md.read_text()
    assert "<img" not in text and "&lt;img" in text and "](http" not in text and "\x07" not in text
    assert "\\|" in text
    ET.parse(junit)
