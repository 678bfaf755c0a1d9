"""Reports embed only what a run wrote: regular PNG files inside the run directory, never a file reached through a
link; and user text (model names, folder names) in report.md, compare.md and report.html stays text."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.cli import main

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _html(run: Path, tmp_path: Path) -> str:
    """The HTML report without its own sorting script (the one script it may hold)."""
    from ebmbench.reports.page import SCRIPT

    out = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(run), "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<script>") == 1
    return page.replace(f"<script>{SCRIPT}</script>", "")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


LINKS = {
    "a png link to a secret png outside": lambda run, secret: (run / "leak.png").symlink_to(secret),
    "a png link to a text file outside": lambda run, secret: (run / "passwd.png").symlink_to(
        secret.with_suffix(".txt")),
    "a linked folder of plots": lambda run, secret: (run / "plots").symlink_to(secret.parent, target_is_directory=True),
    "a link inside a real sub-folder": lambda run, secret: ((run / "hist").mkdir(exist_ok=True),
                                                             (run / "hist" / "x.png").symlink_to(secret)),
}


@pytest.mark.parametrize("name", list(LINKS))
def test_hostile_links_in_a_run_directory_are_never_embedded(make_run, record, tmp_path: Path, name: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.png"
    secret.write_bytes(PNG + b"SECRET-PNG")
    secret.with_suffix(".txt").write_text("root:x:0:0:SECRET-TEXT")
    run = make_run("run", [record()])
    (run / "real.png").write_bytes(PNG + b"REAL")
    LINKS[name](run, secret)
    page = _html(run, tmp_path)
    assert _b64(PNG + b"REAL") in page  # the run's own plot is embedded
    assert _b64(PNG + b"SECRET-PNG") not in page and "SECRET" not in page
    assert _b64(secret.with_suffix(".txt").read_bytes()) not in page


def test_only_real_pngs_of_a_sane_size_are_embedded(make_run, record, tmp_path: Path) -> None:
    run = make_run("run", [record()])
    (run / "fake.png").write_text("not an image at all")
    (run / ".hidden.png").write_bytes(PNG + b"HIDDEN")
    page = _html(run, tmp_path)
    assert _b64(b"not an image at all") not in page and _b64(PNG + b"HIDDEN") not in page


EVIL = 'ebm<script>alert(1)</script>[x](javascript:alert(1))`|**bold**\nsecond line'


def test_hostile_model_and_folder_names_stay_text_in_every_markdown_and_html_output(make_run, record,
                                                                                     tmp_path: Path) -> None:
    run = make_run("run`<img src=x>", [record(model=EVIL)], model=EVIL)
    md = CliRunner().invoke(main, ["report", str(run), "--format", "md"]).output
    page = _html(run, tmp_path)
    for text in (_outside_code_spans(md), page):
        assert "<script>" not in text and "<img src=x>" not in text
    assert "](javascript" not in md and "**bold**" not in md and "\nsecond line" not in md
    cand = make_run("cand", [record(model=EVIL, value=0.2)], model=EVIL)
    summary = tmp_path / "compare.md"
    CliRunner().invoke(main, ["compare", str(run), str(cand), "--markdown", str(summary)])
    text = summary.read_text()
    assert "``" + str(run) + "``" in text  # the folder, backtick and all, as one code span: literal text
    text = _outside_code_spans(text)
    assert "<script>" not in text and "<img src=x>" not in text and "](javascript" not in text


def _outside_code_spans(markdown: str) -> str:
    """Markdown without its code spans (whose content is literal text, markup included)."""
    import re

    return re.sub(r"(`+)(.+?)\1", "", markdown)


def test_manifest_text_with_markup_is_escaped_in_the_html_report(make_run, record, tmp_path: Path) -> None:
    run = make_run("run", [record()])
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["device"] = "<b>cuda</b>"
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert "<b>cuda</b>" not in _html(run, tmp_path)
