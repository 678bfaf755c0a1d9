"""Check an HTML report in a real browser (headless Chromium): at a given width, the page must not scroll
sideways, every figure must have loaded, and the summary must be visible in the first screen.

A copy of the report gets a small measuring script that writes its findings into the DOM once the page has
loaded; ``--dump-dom`` prints that DOM. A screenshot of the first screen is taken as well. Used by the slow
browser test and by hand: ``python -m ebmbench.reports.browser report.html --screenshot shot.png``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CANDIDATES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS: tuple[str, ...] = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          "--hide-scrollbars")

MEASURE = """
<script>
window.addEventListener("load", function () {
  var doc = document.documentElement;
  var imgs = Array.prototype.slice.call(document.images);
  var summary = document.getElementById("summary");
  var box = summary ? summary.getBoundingClientRect() : null;
  var table = summary ? summary.querySelector("table") : null;
  var tbox = table ? table.getBoundingClientRect() : null;
  var out = {
    viewport: window.innerWidth, height: window.innerHeight, scroll_width: doc.scrollWidth,
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
      .map(function (i) { return i.alt; }),
    summary_top: box ? box.top : null, summary_table_bottom: tbox ? tbox.bottom : null,
    wide_boxes: Array.prototype.slice.call(document.querySelectorAll("div.scroll")).filter(function (d) {
      return d.scrollWidth > d.clientWidth; }).length
  };
  var pre = document.createElement("pre");
  pre.id = "ebmbench-measure";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


@dataclass(frozen=True)
class Measurement:
    """What the browser saw in the first screen at ``viewport`` pixels wide."""

    viewport: int
    height: int
    scroll_width: int
    images: int
    broken: list[str]
    summary_top: float | None
    summary_table_bottom: float | None
    wide_boxes: int

    @property
    def horizontal_scroll(self) -> bool:
        return self.scroll_width > self.viewport

    @property
    def summary_in_first_screen(self) -> bool:
        return (self.summary_top is not None and 0 <= self.summary_top < self.height
                and self.summary_table_bottom is not None and self.summary_table_bottom <= self.height)

    def problems(self) -> list[str]:
        out = []
        if self.horizontal_scroll:
            out.append(f"the page scrolls sideways ({self.scroll_width} px wide at {self.viewport} px)")
        if self.broken:
            out.append(f"{len(self.broken)} of {self.images} figure(s) did not load: {', '.join(self.broken[:5])}")
        if not self.summary_in_first_screen:
            out.append(f"the summary is not in the first screen (top {self.summary_top}, its table ends at "
                       f"{self.summary_table_bottom}, screen {self.height} px)")
        return out


def find_chromium() -> str | None:
    """The first Chromium-like browser on the PATH."""
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def measure(report: Path, width: int = 1280, height: int = 900, screenshot: Path | None = None,
            browser: str | None = None, timeout: float = 120.0) -> Measurement:
    """Open ``report`` in headless Chromium at ``width`` x ``height`` and measure it (see the module docstring)."""
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium found (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="ebmbench-browser-") as tmp:
        copy = Path(tmp) / "report.html"
        text = Path(report).read_text(encoding="utf-8")
        copy.write_text(text.replace("</body>", MEASURE + "</body>", 1) if "</body>" in text else text + MEASURE,
                        encoding="utf-8")
        common = [browser, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", f"--window-size={width},{height}",
                  "--virtual-time-budget=10000"]
        out = subprocess.run([*common, "--dump-dom", copy.as_uri()], capture_output=True, text=True,
                             timeout=timeout, check=False)
        found = re.search(r'<pre id="ebmbench-measure">(.*?)</pre>', out.stdout, re.S)
        if not found:
            raise RuntimeError(f"the browser gave no measurement (exit {out.returncode}): {out.stderr[-500:]}")
        if screenshot is not None:
            subprocess.run([*common, f"--screenshot={Path(screenshot).resolve()}", Path(report).resolve().as_uri()],
                           capture_output=True, text=True, timeout=timeout, check=False)
    data = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))
    return Measurement(**data)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--screenshot", type=Path, default=None)
    args = parser.parse_args()
    found = measure(args.report, args.width, args.height, args.screenshot)
    print(json.dumps(found.__dict__))
    problems = found.problems()
    print("\n".join(problems) if problems else "ok: no sideways scroll, every figure loaded, summary in view")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
