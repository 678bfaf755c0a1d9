"""Verdict outputs: a Markdown summary for a pull-request comment and a JUnit XML file for CI systems."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ebmbench.reports.cells import format_number
from ebmbench.reports.compare import (
    IGNORED,
    MISSING,
    NEW,
    NO_DIRECTION,
    NOT_COMPARABLE,
    PASSED,
    REGRESSION,
    SEED_NOISE,
    Comparison,
    Measurement,
    Verdict,
)
from ebmbench.reports.meta import meta, meta_label, meta_text
from ebmbench.reports.render import md_code, md_escape

HEADLINES: dict[int, str] = {0: "✅ no regression", 1: "❌ regression", 2: "⚠️ unusable input"}
ATTENTION: tuple[str, ...] = (REGRESSION, SEED_NOISE, NOT_COMPARABLE, MISSING)
COLUMNS: tuple[str, ...] = ("status", "suite", "model", "eval set", "metric", "details", "baseline", "candidate",
                            "change", "allowed", "p (Holm)", "test", "note")


def markdown_summary(verdict: Verdict) -> str:
    """Verdict line, counts, the rows that need attention, then every row folded away."""
    order = (REGRESSION, SEED_NOISE, *sorted(PASSED), NOT_COMPARABLE, MISSING, NEW, NO_DIRECTION, IGNORED)
    counts = ", ".join(f"{verdict.count(s)} {s}" for s in order if verdict.count(s))
    lines = [f"## ebmbench compare: {HEADLINES[verdict.exit_code]}", "",
             f"Baseline: {_paths(verdict.baseline)} · Candidate: {_paths(verdict.candidate)}", "",
             f"{counts or 'no rows'}."]
    lines += [f"- ⚠️ {md_escape(reason)}" for reason in verdict.blocking]
    lines += [f"- ℹ️ {md_escape(note)}" for note in verdict.notes]
    attention = [c for c in verdict.comparisons if c.status in ATTENTION]
    if attention:
        lines += ["", "### Needs attention", "", *_table(attention)]
    lines += ["", f"<details><summary>All {len(verdict.comparisons)} rows</summary>", "",
              *_table(verdict.comparisons), "", "</details>", "",
              f"Exit code {verdict.exit_code} (0 no regression, 1 regression, 2 unusable input)."]
    return "\n".join(lines) + "\n"


def junit_xml(verdict: Verdict) -> str:
    """One testsuite per ebmbench suite, one testcase per compared row: regressions are failures, rows that
    cannot be judged are errors, rows shown but not judged are skipped."""
    root = ET.Element("testsuites", name="ebmbench compare")
    suites: dict[str, ET.Element] = {}
    for comp in verdict.comparisons:
        suite = comp.identity["suite"]
        if suite not in suites:
            suites[suite] = ET.SubElement(root, "testsuite", name=f"ebmbench.{suite}")
        _testcase(suites[suite], comp)
    if verdict.problems:
        inputs = ET.SubElement(root, "testsuite", name="ebmbench.inputs")
        for problem in verdict.problems:
            case = ET.SubElement(inputs, "testcase", classname="ebmbench.inputs", name=problem)
            ET.SubElement(case, "error", type="unusable input", message=problem)
    for element in [root, *root]:
        _count(element)
    ET.indent(root)
    return xml_safe(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"


def unusable_junit(message: str) -> str:
    """The JUnit file written when the inputs could not even be read, so CI still shows why."""
    root = ET.Element("testsuites", name="ebmbench compare", tests="1", failures="0", errors="1", skipped="0")
    suite = ET.SubElement(root, "testsuite", name="ebmbench.inputs", tests="1", failures="0", errors="1",
                          skipped="0")
    case = ET.SubElement(suite, "testcase", classname="ebmbench.inputs", name="read runs")
    ET.SubElement(case, "error", type="unusable input", message=message)
    return xml_safe(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids (control characters, lone surrogates from undecodable
    file names), which ElementTree would write as they are and so make the file unreadable to CI."""
    return _XML_INVALID.sub("\ufffd", text)


def _testcase(parent: ET.Element, comp: Comparison) -> None:
    ident = comp.identity
    name = f"{ident['metric']} / {ident['eval_set']}" + (f" [{_details(comp)}]" if _details(comp) else "")
    case = ET.SubElement(parent, "testcase", classname=f"ebmbench.{ident['suite']}.{ident['model']}", name=name)
    message = f"{comp.status}: baseline {_value(comp.baseline)}, candidate {_value(comp.candidate)}"
    message += f"; {comp.reason}" if comp.reason else ""
    message += f"; p = {p_text(comp)} ({comp.test.method}, Holm-adjusted)" if comp.test is not None else ""
    if comp.status == REGRESSION:
        ET.SubElement(case, "failure", type="regression", message=message)
    elif comp.status in (NOT_COMPARABLE, MISSING):
        ET.SubElement(case, "error", type=comp.status, message=message)
    elif comp.status not in PASSED:
        ET.SubElement(case, "skipped", message=message)
    else:
        ET.SubElement(case, "system-out").text = message


def _count(element: ET.Element) -> None:
    cases = list(element.iter("testcase"))
    element.set("tests", str(len(cases)))
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        element.set(attr, str(sum(case.find(tag) is not None for case in cases)))


def _table(comparisons: list[Comparison]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in comparisons:
        ident = c.identity
        cells = [c.status, ident["suite"], _model(c), str(ident["eval_set"]), ident["metric"], _details(c),
                 _value(c.baseline), _value(c.candidate), _change(c),
                 "" if c.allowed is None else f"{c.allowed:.4g}", p_text(c), _method(c), c.reason]
        lines.append("| " + " | ".join(md_escape(str(x)) for x in cells) + " |")
    return lines


def p_text(comp: Comparison) -> str:
    """The Holm-adjusted p-value as shown (raw beside it when they differ); empty without a test."""
    if comp.test is None or comp.p_adjusted is None:
        return ""
    adjusted = _p(comp.p_adjusted)
    return adjusted if comp.p_adjusted == comp.test.p else f"{adjusted} (raw {_p(comp.test.p)})"


def _p(p: float) -> str:
    return "<1e-12" if p < 1e-12 else f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _method(comp: Comparison) -> str:
    return "" if comp.test is None else comp.test.method


def _model(comp: Comparison) -> str:
    names = [m.model for m in (comp.baseline, comp.candidate) if m is not None]
    return names[0] if len(set(names)) == 1 else " → ".join(names)


def _details(comp: Comparison) -> str:
    qualifiers = meta()
    shown = {**{k: v for k, v in comp.identity.items() if k in qualifiers}, **comp.context}
    shown.pop("dataset", None)
    shown.pop("suite_version", None)
    parts = [f"{meta_label(k)}={meta_text(v)}" for k, v in shown.items() if meta_text(v)]
    return "; ".join(parts)


def _value(m: Measurement | None) -> str:
    if m is None:
        return "–"
    pm = None if m.ci_low is None or m.ci_high is None else (m.ci_high - m.ci_low) / 2
    value, spread = format_number(m.value, pm)
    seeds = f" ({m.seeds} seeds)" if m.seeds > 1 else ""
    return (f"{value} ± {spread}" if spread else value) + seeds


def _change(comp: Comparison) -> str:
    change = comp.change
    if change is None or comp.baseline is None:
        return ""
    rel = f" ({change / abs(comp.baseline.value):+.1%})" if comp.baseline.value else ""
    return f"{change:+.4g}{rel}"


def _paths(paths: list[str]) -> str:
    return ", ".join(md_code(p) for p in paths) or "–"
