"""The suites' own Markdown files (``ood_table.md``, ``robustness.md``) keep user text literal: a model, set or
threat-model name with HTML, links, emphasis, pipes or line breaks stays one cell of plain text."""

from __future__ import annotations

import re

from ebmbench.markdown import md_escape
from ebmbench.records import Record
from ebmbench.suites.ood import report as ood_report
from ebmbench.suites.robustness import report as robustness_report

EVIL = 'ebm<script>alert(1)</script>[x](javascript:alert(1))`|**bold**\nsecond line'


def _record(suite: str, metric: str, value: float, **extra: object) -> Record:
    return Record(suite=suite, suite_version="1", model=EVIL, dataset="digits", eval_set=extra.pop("eval_set", "x"),
                  metric=metric, value=value, ci_low=value - 0.05, ci_high=value + 0.05, n=100, extra=dict(extra))


def _assert_literal(markdown: str) -> None:
    assert "<script>" not in markdown and "](javascript" not in markdown and "**bold**" not in markdown
    assert "\nsecond line" not in markdown
    widths: list[int] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            widths.append(len(re.findall(r"(?<!\\)\|", line)))  # unescaped pipes: the row's column count
        elif widths:
            assert len(set(widths)) == 1, f"a table row gained columns: {widths}"
            widths = []


def test_ood_table_keeps_hostile_model_set_and_note_text_literal() -> None:
    records = [_record("ood", m, 0.9, score="energy", eval_set=EVIL) for m in ("auroc", "aupr", "fpr95")]
    table = ood_report.markdown_table(records, [EVIL], f"In-distribution: {md_escape(EVIL)}", [EVIL])
    _assert_literal(table)
    assert md_escape(EVIL) in table


def test_robustness_table_keeps_hostile_model_threat_and_warning_text_literal() -> None:
    common = {"defense": EVIL, "norm": "linf", "epsilon": 0.1, "epsilon_label": "0.1"}
    records = [_record("robustness", "clean_accuracy", 0.9, **{k: common[k] for k in ("defense",)}),
               _record("robustness", "robust_accuracy", 0.5, threat_model=EVIL, **common),
               _record("robustness", "purification_gain", 0.1, threat_model=EVIL, **common)]
    warning = {"check": "adaptive_equals_transfer", "model": EVIL, "defense": EVIL, "threat_model": EVIL,
               "norm": "linf", "epsilon_label": "0.1", "accuracy": 0.5, "message": EVIL}
    table = robustness_report.markdown_table(records, [warning])
    _assert_literal(table)
    assert table.count(md_escape(EVIL)) >= 4


def test_md_escape_is_the_one_the_reports_use() -> None:
    from ebmbench.reports import render

    assert render.md_escape is md_escape
