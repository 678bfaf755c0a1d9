"""Run directories built straight from records (no model, no training): the reports' only input."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ebmbench.records import Record
from ebmbench.rundir import RunDir

MakeRun = Callable[..., Path]


def rec(**fields: Any) -> Record:
    """A record with sensible defaults (an OOD AUROC of model ``ebm`` on digits), overridden by ``fields``."""
    base: dict[str, Any] = {"suite": "ood", "suite_version": "1", "model": "ebm", "dataset": "digits",
                            "eval_set": "uniform", "metric": "auroc", "value": 0.9, "seed": 0}
    return Record(**{**base, **fields})


@pytest.fixture
def record() -> Callable[..., Record]:
    return rec


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """``make_run(name, records, model=..., seed=..., status=...)`` writes a finished run directory."""

    def make(name: str, records: list[Record], model: str = "ebm", seed: int = 0, status: str = "complete",
             options: dict[str, Any] | None = None) -> Path:
        run = RunDir(tmp_path / name)
        suite = records[0].suite if records else "ood"
        run.start({"suite": suite, "seed": seed, "options": options or {"n": 100}}, {"model": model})
        if records:
            run.commit("all", records)
        run.finish(status=status)
        return run.path

    return make


def parse_markdown_tables(text: str) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Markdown tables under ``#`` headings: {title: (header cells, body rows as cell strings)}."""
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    title = None
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        elif line.startswith("|") and title is not None:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if title not in tables:
                tables[title] = (cells, [])
            elif not set("".join(cells)) <= set(":- "):
                tables[title][1].append(cells)
    return tables


def assert_balanced_latex(text: str) -> None:
    """Every \\begin closed by its \\end in order, braces balanced, math dollars paired on each line."""
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", text):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} closes nothing open"
    assert not stack, f"unclosed environments {stack}"
    unescaped = re.sub(r"\\[{}$&%#_]", "", text)
    assert unescaped.count("{") == unescaped.count("}")
    for line in unescaped.splitlines():
        assert line.count("$") % 2 == 0, line


@pytest.fixture
def md_tables() -> Callable[[str], dict[str, tuple[list[str], list[list[str]]]]]:
    return parse_markdown_tables


@pytest.fixture
def balanced_latex() -> Callable[[str], None]:
    return assert_balanced_latex
