"""The OOD suite's artifacts: per-sample score files (CSV), score histograms per OOD set, and the Markdown
table laid out like the reference paper's (OOD sets as rows, models as columns).

A score file ``scores/SET.csv`` holds one row per image, the in-distribution test images (``in_distribution``
= 1) and the set's images (0), and one column ``MODEL/SCORE`` per model and score; any metric can be
recomputed from it, e.g. ``roc_auc_score(df.in_distribution, df["glow/log_prob"])``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ebmbench.atomic import atomic_path
from ebmbench.markdown import md_escape
from ebmbench.records import Record

from .metrics import DETECTION

Scores = dict[str, np.ndarray]  # "MODEL/SCORE" -> one score per image


def safe_name(name: str) -> str:
    """A file-name-safe form of a set name (``interp:digits`` -> ``interp_digits``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "set"


def write_scores(path: Path, set_name: str, scores_in: Scores, scores_out: Scores) -> Path:
    """Per-sample scores of the in-distribution test images and of one OOD set, one column per model/score."""
    import pandas as pd

    n_in, n_out = len(next(iter(scores_in.values()))), len(next(iter(scores_out.values())))
    frame = pd.DataFrame({"set": ["in-distribution"] * n_in + [set_name] * n_out,
                          "in_distribution": [1] * n_in + [0] * n_out,
                          "index": list(range(n_in)) + list(range(n_out))})
    for column in scores_in:
        frame[column] = np.concatenate([scores_in[column], scores_out[column]])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.9g")
    return path


def read_scores(path: Path) -> tuple[Scores, Scores]:
    """The in-distribution and OOD scores of a score file, by column."""
    import pandas as pd

    frame = pd.read_csv(path)
    is_in = frame["in_distribution"].to_numpy() == 1
    columns = [c for c in frame.columns if c not in ("set", "in_distribution", "index")]
    return ({c: frame[c].to_numpy()[is_in] for c in columns}, {c: frame[c].to_numpy()[~is_in] for c in columns})


def save_histograms(path: Path, set_name: str, in_name: str, scores_in: Scores, scores_out: Scores,
                    labels: dict[str, str]) -> Path:
    """One panel per column of ``labels`` (model/score): the in-distribution and the OOD set's score
    distributions as seaborn step histograms on shared bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    columns = list(labels)
    ncols = min(4, len(columns))
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.7 * nrows + 0.4), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        bins = np.histogram_bin_edges(np.concatenate([scores_in[column], scores_out[column]]), bins=40)
        sns.histplot(scores_in[column], ax=ax, bins=bins, stat="density", element="step", label=in_name)
        sns.histplot(scores_out[column], ax=ax, bins=bins, stat="density", element="step", label=set_name)
        ax.set_title(column, fontsize=9)
        ax.set_xlabel(labels[column], fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{in_name} vs {set_name} (higher = more in-distribution)", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _columns(records: Sequence[Record]) -> list[tuple[str, str]]:
    """(model, score) pairs in first-seen order."""
    seen: dict[tuple[str, str], None] = {}
    for r in records:
        if "score" in r.extra:
            seen.setdefault((r.model, r.extra["score"]), None)
    return list(seen)


def _header(model: str, score: str, label: str, single: bool) -> str:
    return md_escape(model if single else f"{model}: {label}")


def _cell(r: Record | None) -> str:
    if r is None:
        return "–"
    ci = f" [{r.ci_low:.3f}, {r.ci_high:.3f}]" if r.ci_low is not None and r.ci_high is not None else ""
    return f"{r.value:.3f}{ci}"


def markdown_table(records: Sequence[Record], sets: Sequence[str], intro: str, notes: Sequence[str]) -> str:
    """The paper-layout tables (one per metric): OOD sets as rows plus the average, one column per model and
    score; the AUROC table ends with the likelihood models' test bits/dim."""
    columns = _columns(records)
    per_model = {m: sum(1 for mm, _ in columns if mm == m) for m, _ in columns}
    labels = {(r.model, r.extra["score"]): r.extra.get("score_label", r.extra["score"])
              for r in records if "score" in r.extra}
    index = {(r.model, r.extra.get("score"), r.eval_set, r.metric): r for r in records}
    bpd = {r.model: r for r in records if r.metric == "bits_per_dim"}
    heads = [_header(m, s, labels[(m, s)], per_model[m] == 1) for m, s in columns]
    lines = ["# OOD detection", "", intro, ""]
    for declared in DETECTION:
        metric = declared.name
        arrow = "higher is better" if declared.higher_is_better else "lower is better"
        lines += [f"## {declared.label} ({arrow})", "", "| OOD set | " + " | ".join(heads) + " |",
                  "|---|" + "---|" * len(heads)]
        for row in [*sets, "average"]:
            cells = [_cell(index.get((m, s, row, metric))) for m, s in columns]
            lines.append(f"| {md_escape(row)} | " + " | ".join(cells) + " |")
        if metric == "auroc":
            cells = [f"{bpd[m].value:.3f}" if m in bpd else "–" for m, _ in columns]
            lines.append("| test bits/dim | " + " | ".join(cells) + " |")
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {md_escape(n)}" for n in notes], ""]
    return "\n".join(lines)
