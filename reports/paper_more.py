"""Paper layouts of the restoration, calibration and mcmc suites (``ebmbench report paper``).

- restoration: corruptions as rows; PSNR and SSIM of the corrupted input, the simple baseline and each
  restoring model (at its largest number of steps) as columns; a second table with the classifier's accuracy on
  those images;
- calibration (JEM's table): one row per classifier view, accuracy, ECE, NLL and Brier as columns;
- mcmc: one row per model and protocol, the mixing diagnostics as columns.

Every cell is a record of a run directory; nothing is recomputed. Tables without runs are left out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ebmbench.numbers import none_if_nan
from ebmbench.reports.cells import Cell, Row, Table, mark_best

INPUTS = ("corrupted-input", "median-filter", "mean-image")
BASELINE = "simple baseline"


def more_tables(frame: pd.DataFrame) -> list[Table]:
    """The tables of whichever of the three suites have records in ``frame``."""
    tables = [*restoration_tables(frame), calibration_table(frame), mcmc_table(frame)]
    return [t for t in tables if t is not None]


# ---- restoration --------------------------------------------------------------------------------------------
def restoration_tables(frame: pd.DataFrame) -> list[Table]:
    recs = [r for r in _rows(frame, "restoration") if r["eval_set"] != "clean"]
    if not recs:
        return []
    models = list(dict.fromkeys(r["model"] for r in recs if r["model"] not in INPUTS))
    final = {m: max((_extra(r, "steps") or 0) for r in recs if r["model"] == m) for m in models}
    columns = ["corrupted input", BASELINE, *(f"{m} ({final[m]} steps)" for m in models)]
    sets = list(dict.fromkeys(r["eval_set"] for r in recs))
    out = []
    for metrics, title in ((("psnr", "ssim"), "Restoration: PSNR (dB) ↑ and SSIM ↑ against the clean image"),
                           (("accuracy",), "Restoration: classifier accuracy ↑ on the restored images")):
        table = Table(title=title, label_headers=["corruption", "metric"], columns=columns)
        for name in sets:
            for metric in metrics:
                mine = [r for r in recs if r["eval_set"] == name and r["metric"] == metric]
                if not mine:
                    continue
                cells = [_cell(mine, lambda r: r["model"] == "corrupted-input"),
                         _cell(mine, lambda r: r["model"] in INPUTS[1:]),
                         *(_cell(mine, lambda r, m=m: r["model"] == m and _extra(r, "steps") == final[m])
                           for m in models)]
                row = Row(labels=[name, metric], cells=cells, higher_is_better=True)
                mark_best(row)
                table.rows.append(row)
        if table.rows:
            table.notes = ["bold: best in row; ± half-width of the 95% interval (Student-t over images for PSNR "
                           "and SSIM, Wilson for accuracy). Simple baseline: a 3×3 median filter for noise, the mean "
                           "training image in the missing pixels for masks."]
            out.append(table)
    return out


# ---- calibration --------------------------------------------------------------------------------------------
CALIBRATION_COLUMNS = (("accuracy", "accuracy ↑"), ("ece", "ECE ↓"), ("nll", "NLL ↓"), ("brier", "Brier ↓"))


def calibration_table(frame: pd.DataFrame) -> Table | None:
    recs = _rows(frame, "calibration")
    if not recs:
        return None
    bins = sorted({_extra(r, "bins") for r in recs if _extra(r, "bins") is not None})
    table = Table(title="Calibration of the classifier views", label_headers=["model", "view", "dataset"],
                  columns=[label for _, label in CALIBRATION_COLUMNS])
    keys = list(dict.fromkeys((r["model"], _extra(r, "view"), r["dataset"]) for r in recs))
    for model, view, dataset in keys:
        mine = [r for r in recs if (r["model"], _extra(r, "view"), r["dataset"]) == (model, view, dataset)]
        cells = [_cell(mine, lambda r, m=metric: r["metric"] == m) for metric, _ in CALIBRATION_COLUMNS]
        table.rows.append(Row(labels=[str(model), str(view), str(dataset)], cells=cells))
    table.notes = [f"ECE with {', '.join(str(b) for b in bins)} equal-width confidence bins (right-closed); NLL in "
                   "nats; multiclass Brier score in [0, 2]; ± half-width of the bootstrap 95% interval."]
    return table


# ---- mcmc ---------------------------------------------------------------------------------------------------
MCMC_COLUMNS = (("rhat_energy", "R̂ energy ↓"), ("rhat_projection", "R̂ projections ↓"),
                ("ess_energy", "ESS/chain energy ↑"), ("ess_projection", "ESS/chain projections ↑"),
                ("mala_acceptance", "MALA acceptance ↑"), ("burn_in", "burn-in (steps)"))


def mcmc_table(frame: pd.DataFrame) -> Table | None:
    recs = _rows(frame, "mcmc")
    if not recs:
        return None
    table = Table(title="Mixing of the Langevin chains", label_headers=["model", "dataset", "protocol", "steps",
                                                                       "failed checks"],
                  columns=[label for _, label in MCMC_COLUMNS])
    keys = list(dict.fromkeys((r["model"], r["dataset"], r["run"]) for r in recs))
    for model, dataset, run in keys:
        mine = [r for r in recs if (r["model"], r["dataset"], r["run"]) == (model, dataset, run)]
        first = next(r for r in mine if not r["metric"].startswith("sanity_"))
        failed = [r["metric"].removeprefix("sanity_") for r in mine
                  if r["metric"].startswith("sanity_") and float(r["value"]) > 0]
        cells = [_cell(mine, lambda r, m=metric: r["metric"] == m) for metric, _ in MCMC_COLUMNS]
        table.rows.append(Row(labels=[str(model), str(dataset), str(_extra(first, "protocol")),
                                      str(_extra(first, "chain_steps")), ", ".join(failed) or "none"], cells=cells))
    table.notes = ["R̂: split R-hat across chains from different seeds, the largest over labels (above 1.1: not "
                   "mixed); ESS per chain by Geyer's initial monotone sequence after the burn-in (MSER); MALA "
                   "acceptance: what a Metropolis-adjusted step would have accepted (a diagnostic)."]
    return table


# ---- helpers ------------------------------------------------------------------------------------------------
def _rows(frame: pd.DataFrame, suite: str) -> list[dict[str, Any]]:
    return frame[frame["suite"] == suite].to_dict("records")


def _extra(rec: dict[str, Any], key: str) -> Any:
    extra = rec.get("extra")
    return extra.get(key) if isinstance(extra, dict) else None


def _cell(recs: list[dict[str, Any]], pick) -> Cell:
    hit = [r for r in recs if pick(r)]
    if not hit:
        return Cell()
    last = hit[-1]
    pm = last.get("pm")
    return Cell(value=float(last["value"]), pm=None if none_if_nan(pm) is None
                else float(pm))
