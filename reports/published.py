"""The published reference numbers shipped with ebmbench (``reports/data/published_results.csv``).

Each row names its paper and a ``status``: ``confirmed`` (checked against a source quoting the paper) or
``unconfirmed`` (believed correct, not yet checked against the paper's own table); reports must mark the latter.
"""

from __future__ import annotations

import io
from importlib.resources import files

import pandas as pd

from ebmbench.errors import EbmbenchError

DATA_FILE = "published_results.csv"
COLUMNS: tuple[str, ...] = ("paper", "model", "dataset", "suite", "eval_set", "metric", "value", "status", "note")
# Loaded frames add ``places``: the decimals the paper printed, so reports show 0.30 as 0.30.
STATUSES: frozenset[str] = frozenset({"confirmed", "unconfirmed"})
PAPERS: dict[str, str] = {
    "du2019igebm": "Du & Mordatch, Implicit Generation and Generalization in Energy-Based Models (2019)",
    "grathwohl2019jem": "Grathwohl et al., Your Classifier is Secretly an Energy Based Model (ICLR 2020)",
}
UNCONFIRMED_MARK = "†"


def published_text() -> str:
    """The packaged CSV's text (read through importlib.resources, so it works from a wheel too)."""
    return files("ebmbench.reports").joinpath("data", DATA_FILE).read_text(encoding="utf-8")


def load_published() -> pd.DataFrame:
    """The published numbers as a DataFrame with the columns of ``COLUMNS``; refuses a malformed file."""
    try:
        frame = pd.read_csv(io.StringIO(published_text()), dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as exc:
        raise EbmbenchError(f"the packaged {DATA_FILE} cannot be read ({exc})") from None
    missing = set(COLUMNS) - set(frame.columns)
    bad = set(frame["status"]) - STATUSES if "status" in frame else set()
    if missing or bad:
        raise EbmbenchError(f"the packaged {DATA_FILE} is malformed (missing {sorted(missing)}, "
                            f"unknown statuses {sorted(bad)})")
    try:
        values = frame["value"].astype(float)
    except ValueError as exc:
        raise EbmbenchError(f"the packaged {DATA_FILE} has a non-numeric value ({exc})") from None
    frame["places"] = [len(text.partition(".")[2]) for text in frame["value"]]
    frame["value"] = values
    return frame[[*COLUMNS, "places"]]


def mark(status: str) -> str:
    """The footnote sign a report puts beside a published number of this status."""
    return UNCONFIRMED_MARK if status != "confirmed" else ""


def source_notes(shown: pd.DataFrame) -> list[str]:
    """Footnotes for the published rows ``shown``: each cited paper, and the unconfirmed mark if used."""
    notes = [f"[{key}] {PAPERS.get(key, key)}." for key in sorted(set(shown["paper"]))]
    if (shown["status"] != "confirmed").any():
        notes.append(f"{UNCONFIRMED_MARK} unconfirmed: a published number believed correct but not yet checked "
                     "against the paper's own table.")
    return notes
