"""The one-page HTML report in a real browser (headless Chromium at 1280 px): no sideways page scroll even with a
wide table, every figure loaded, the summary in the first screen. Skipped where Chromium is absent.

``EBMBENCH_REPORT_HTML=runs/quickstart/report.html pytest -m slow tests/reports/test_browser.py`` checks a
report of your own as well (e.g. the quickstart's).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ebmbench.reports.browser import find_chromium, measure
from ebmbench.reports.load import load_runs
from ebmbench.reports.report import render_report

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_chromium() is None,
                                 reason="headless Chromium not found (apt-get install -y chromium)")]


def _figure(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([0, 1, 2], [0.9, 0.5, 0.2], marker="o")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def test_report_in_headless_chromium(make_run, record, tmp_path: Path) -> None:
    sets = [f"a-rather-long-ood-set-name-{k}" for k in range(14)]  # a wide table: it must scroll in its own box
    ood = make_run("ood", [record(model=m, eval_set=s, value=0.8, ci_low=0.79, ci_high=0.81,
                                  extra={"score": sc, "score_label": sc})
                           for m in ("ebm-digits", "Glow", "classifier") for sc in ("score-a", "score-b")
                           for s in [*sets, "average"]])
    for s in sets[:3]:
        _figure(ood / "hist" / f"{s}.png")
    _figure(ood / "robustness_curves.png")
    page = tmp_path / "report.html"
    page.write_text(render_report(load_runs([ood]), "html"), encoding="utf-8")
    shot = tmp_path / "shot.png"
    found = measure(page, 1280, 900, screenshot=shot)
    assert found.problems() == [], found
    assert found.images == 4 and found.wide_boxes >= 1  # the wide table scrolls inside its box
    assert shot.is_file() and shot.stat().st_size > 1000


@pytest.mark.skipif(not os.environ.get("EBMBENCH_REPORT_HTML"), reason="set EBMBENCH_REPORT_HTML to check a report")
def test_a_given_report_in_headless_chromium(tmp_path: Path) -> None:
    page = Path(os.environ["EBMBENCH_REPORT_HTML"])
    found = measure(page, 1280, 900, screenshot=Path(os.environ.get("EBMBENCH_SCREENSHOT", tmp_path / "shot.png")))
    assert found.problems() == [], found
