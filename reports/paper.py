"""``ebmbench report paper``: the reference paper's layouts with the published numbers beside ours.

- sample quality: one row per model, IS and FID columns;
- OOD detection: AUROC with OOD sets as rows, models as columns and the average row, one table per
  in-distribution dataset;
- robustness: accuracy per (norm, ε) with models (and threat models) as columns, plus the curves as a figure.

Every published number carries its source (the paper key in its row or column) and a † when unconfirmed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ebmbench.atomic import atomic_path
from ebmbench.numbers import none_if_nan
from ebmbench.reports.cells import Cell, Row, Table, mark_best
from ebmbench.reports.meta import arrow, declared, meta_text
from ebmbench.reports.published import mark, source_notes

# Our metric first (its spec gives the header and direction), then the names published tables use for it.
IS_NAMES: tuple[str, ...] = ("inception_score", "is", "isc")
FID_NAMES: tuple[str, ...] = ("fid",)
OOD_SET_ORDER: tuple[str, ...] = ("svhn", "dtd", "constant", "uniform", "interp", "cifar100", "celeba")
PUBLISHED_SETS: dict[str, str] = {"textures": "dtd"}  # the papers' set names -> the suite's
OURS = "ours"


def paper_tables(frame: pd.DataFrame, published: pd.DataFrame) -> list[Table]:
    """All paper tables: quality, OOD (one per in-distribution dataset), robustness."""
    from ebmbench.reports.paper_more import more_tables

    return [quality_table(frame, published), *ood_tables(frame, published), robustness_table(frame, published),
            *more_tables(frame)]


# ---- sample quality -----------------------------------------------------------------------------------------
def quality_table(frame: pd.DataFrame, published: pd.DataFrame) -> Table:
    """Rows: our quality runs (with extractor and steps), then the published models; columns IS ↑ and FID ↓."""
    table = Table(title="Sample quality: Inception Score and FID",
                  label_headers=["model", "dataset", "eval set", "extractor", "steps", "source"],
                  columns=[_header("quality", IS_NAMES[0]), _header("quality", FID_NAMES[0])])
    ours = _records(frame, "quality", IS_NAMES + FID_NAMES)
    for key, recs in _group(ours, ("model", "dataset", "eval_set", "extractor", "steps", "seed", "run")).items():
        model, dataset, eval_set, extractor, steps, seed, _ = key
        label = model + (f" (seed {seed})" if _seeds(ours, model) > 1 and seed is not None else "")
        table.rows.append(Row(labels=[label, dataset, eval_set, meta_text(extractor), meta_text(steps), OURS],
                              cells=[_our_cell(recs, IS_NAMES), _our_cell(recs, FID_NAMES)]))
    theirs = _published(published, "quality", IS_NAMES + FID_NAMES)
    for (paper, model, dataset), recs in _group(theirs, ("paper", "model", "dataset")).items():
        table.rows.append(Row(labels=[model, dataset, "samples", "", "", paper],
                              cells=[_their_cell(recs, IS_NAMES), _their_cell(recs, FID_NAMES)]))
    table.notes = ["Published IS/FID use the Inception network on CIFAR-10-size data; ours name their extractor: "
                   "numbers from different extractors or datasets are not comparable.",
                   *source_notes(theirs), *_missing_note(ours, "quality")]
    return table


# ---- OOD detection ------------------------------------------------------------------------------------------
def ood_tables(frame: pd.DataFrame, published: pd.DataFrame) -> list[Table]:
    """AUROC tables, one per in-distribution dataset (ours and published), sets as rows, average last."""
    ours = _records(frame, "ood", ("auroc",))
    theirs = _published(published, "ood", ("auroc",))
    datasets = list(dict.fromkeys([*ours["dataset"], *theirs["dataset"]]))
    return [_ood_table(d, ours[ours["dataset"] == d], theirs[theirs["dataset"] == d],
                       sorted(set(ours["dataset"]) - {d})) for d in datasets]


def _ood_table(dataset: str, ours: pd.DataFrame, theirs: pd.DataFrame, elsewhere: list[str]) -> Table:
    columns: dict[str, dict[str, Cell]] = {}
    for (model, score, seed, run), recs in _group(ours, ("model", "score", "seed", "run")).items():
        label = model + (f" [{score}]" if score is not None else "")
        label += (f" seed {seed}" if _seeds(ours, model) > 1 and seed is not None else "") + f" ({OURS})"
        columns[_unique_label(label, run, columns)] = {_set_name(s, dataset): _our_cell(r, ("auroc",))
                                                       for s, r in _group(recs, ("eval_set",)).items()}
    for (paper, model), recs in _group(theirs, ("paper", "model")).items():
        columns[f"{model} [{paper}]"] = {_set_name(s, dataset): _their_cell(r, ("auroc",))
                                         for s, r in _group(recs, ("eval_set",)).items()}
    sets = _ordered_sets({s for col in columns.values() for s in col}, dataset)
    table = Table(title=f"OOD detection {_header('ood', 'auroc')}, in-distribution {dataset}",
                  label_headers=["OOD set"], columns=list(columns))
    for name in sets:
        row = Row(labels=[name], cells=[columns[c].get(name, Cell()) for c in columns],
                  higher_is_better=_direction("ood", "auroc"))
        mark_best(row)
        table.rows.append(row)
    table.notes = ["bold: best in row. Each source's average is its own (the paper's over its five sets, ours over "
                   "the sets our suite ran).", "OOD sets carry the suite's names: the papers' \"textures\" is dtd, "
                   f"their \"{dataset}-interp\" is interp:{dataset}.", *source_notes(theirs),
                   *_missing_note(ours, "ood", dataset, elsewhere)]
    return table


def _set_name(eval_set: Any, dataset: str) -> str:
    """Every OOD set under the suite's own name, as in every other table: the papers' "textures" is ``dtd`` and
    their "<dataset>-interp" is ``interp:<dataset>``."""
    name = str(eval_set)
    if name in ("interp", f"{dataset}-interp"):
        return f"interp:{dataset}"
    return PUBLISHED_SETS.get(name, name)


def _ordered_sets(names: set[str], dataset: str) -> list[str]:
    known = [_set_name(s, dataset) for s in OOD_SET_ORDER]
    return sorted(names, key=lambda s: (s == "average", known.index(s) if s in known else len(known), s))


# ---- robustness ---------------------------------------------------------------------------------------------
ROBUST_NAMES: tuple[str, ...] = ("robust_accuracy", "accuracy")
CLEAN_NAMES: tuple[str, ...] = ("clean_accuracy", "accuracy")
ROBUSTNESS_COLUMN: tuple[str, ...] = ("model", "defense", "threat_model", "seed", "run")


def robustness_table(frame: pd.DataFrame, published: pd.DataFrame) -> Table:
    """Accuracy ↑: a clean row, then one row per (norm, ε); columns are (model, defense, threat model) and the
    published clean accuracies."""
    ours = _robustness_records(frame)
    attacked, clean = ours[ours["epsilon"].notna()], ours[ours["epsilon"].isna()]
    columns: dict[str, dict[tuple, Cell]] = {}
    for (model, defense, threat, seed, run), recs in _group(attacked, ROBUSTNESS_COLUMN).items():
        label = _robustness_label(model, defense, threat)
        label += (f" seed {seed}" if _seeds(ours, model) > 1 and seed is not None else "") + f" ({OURS})"
        cells = {(n, e): _our_cell(r, ROBUST_NAMES) for (n, e), r in _group(recs, ("norm", "epsilon")).items()}
        same = (clean["model"] == model) & (clean["defense"].map(none_if_nan) == defense) & (clean["run"] == run)
        cells[("clean", None)] = _our_cell(clean[same], CLEAN_NAMES)
        columns[_unique_label(label, run, columns)] = cells
    attacked_keys = {(m, d) for m, d in zip(attacked["model"], attacked["defense"].map(none_if_nan), strict=True)}
    for (model, defense, run), recs in _group(clean, ("model", "defense", "run")).items():
        if (model, defense) not in attacked_keys:
            label = _robustness_label(model, defense, None) + f" ({OURS})"
            columns[_unique_label(label, run, columns)] = {("clean", None): _our_cell(recs, CLEAN_NAMES)}
    theirs = _published(published, "robustness", ("accuracy",))
    for (paper, model), recs in _group(theirs, ("paper", "model")).items():
        columns[f"{model} [{paper}]"] = {("clean", None): _their_cell(recs, ("accuracy",))}
    return _robustness_grid(columns, theirs, ours)


def _robustness_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Clean and attacked accuracies, with the defense (the robustness suite's ``extra``) as a column."""
    ours = _records(frame, "robustness", ROBUST_NAMES + CLEAN_NAMES)
    defense = [extra.get("defense") if isinstance(extra, dict) else None for extra in ours["extra"]]
    return ours.assign(defense=pd.Series(defense, index=ours.index, dtype=object))


def _robustness_label(model: str, defense: Any, threat: Any) -> str:
    """``model [defense, threat model]``, leaving out an absent defense (or ``none``) and threat model."""
    parts = [str(p) for p in (defense, threat) if p is not None and p != "none"]
    return model + (f" [{', '.join(parts)}]" if parts else "")


def _robustness_grid(columns: dict[str, dict[tuple, Cell]], theirs: pd.DataFrame, ours: pd.DataFrame) -> Table:
    keys = sorted({k for col in columns.values() for k in col}, key=_row_order)
    better = _direction("robustness", ROBUST_NAMES[0])
    table = Table(title=f"Adversarial robustness: accuracy {arrow(better)} under PGD", label_headers=["norm", "ε"],
                  columns=list(columns))
    for key in keys:
        row = Row(labels=[str(key[0]), epsilon_text(key[1])], cells=[columns[c].get(key, Cell()) for c in columns],
                  higher_is_better=better)
        mark_best(row)
        table.rows.append(row)
    table.notes = ["bold: best in row. The paper's robustness figure is not available as numbers; only published "
                   "clean accuracies are shown.", *source_notes(theirs), *_missing_note(ours, "robustness")]
    return table


def epsilon_text(eps: Any) -> str:
    """ε as the paper writes it: in 1/255 units when it is a whole number of them and not a short decimal (0.2
    stays 0.2, not 51/255)."""
    if (isinstance(eps, (int, float)) and 0 < eps < 1 and abs(eps * 255 - round(eps * 255)) < 1e-6
            and abs(eps - round(eps, 3)) > 1e-9):
        return f"{round(eps * 255)}/255"
    return meta_text(eps)


def _row_order(key: tuple) -> tuple:
    norm, eps = key
    numeric = isinstance(eps, (int, float))
    return (eps is not None, str(norm), not numeric, eps if numeric else 0.0, "" if numeric else str(eps))


def robustness_figure(frame: pd.DataFrame, path: Path) -> Path | None:
    """Accuracy against ε, one panel per norm, one line per (model, threat model); None without data."""
    ours = _robustness_records(frame)
    attacked = ours[ours["epsilon"].notna()]
    if attacked.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = attacked["epsilon"].astype(float)
    in_255 = bool(((eps * 255 - (eps * 255).round()).abs() < 1e-6).all())
    attacked = attacked.assign(x=eps * 255 if in_255 else eps)
    norms = list(dict.fromkeys(attacked["norm"]))
    fig, axes = plt.subplots(1, len(norms), figsize=(5 * len(norms), 4), squeeze=False)
    for ax, norm in zip(axes[0], norms, strict=True):
        lines = _group(attacked[attacked["norm"] == norm], ("model", "defense", "threat_model"))
        for (model, defense, threat), recs in lines.items():
            recs = recs.sort_values("x")
            ax.errorbar(recs["x"], recs["value"], yerr=recs["pm"].fillna(0.0), marker="o",
                        capsize=2, label=_robustness_label(model, defense, threat))
        ax.set(title=f"PGD {norm}", xlabel="ε (in 1/255)" if in_255 else "ε", ylabel="accuracy", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


# ---- helpers ------------------------------------------------------------------------------------------------
def _direction(suite: str, metric: str) -> bool | None:
    known = declared(suite, metric)
    return None if known is None else known.higher_is_better


def _header(suite: str, metric: str) -> str:
    """A metric's display name and arrow, as its suite's spec declares them (``IS ↑``)."""
    known = declared(suite, metric)
    return metric if known is None else f"{known.label} {arrow(known.higher_is_better)}".strip()


def _records(frame: pd.DataFrame, suite: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    return frame[(frame["suite"] == suite) & frame["metric"].isin(metrics)]


def _published(published: pd.DataFrame, suite: str, metrics: tuple[str, ...]) -> pd.DataFrame:
    return published[(published["suite"] == suite) & published["metric"].isin(metrics)]


def _group(frame: pd.DataFrame, keys: tuple[str, ...]) -> dict[Any, pd.DataFrame]:
    """Groups in order of first appearance; a missing value is None (never a NaN that equals nothing)."""
    out: dict[Any, list[int]] = {}
    for idx, row in frame.iterrows():
        key = tuple(none_if_nan(row[k]) for k in keys)
        out.setdefault(key[0] if len(keys) == 1 else key, []).append(idx)
    return {k: frame.loc[v] for k, v in out.items()}


def _our_cell(recs: pd.DataFrame, metrics: tuple[str, ...]) -> Cell:
    hit = recs[recs["metric"].isin(metrics)]
    if hit.empty:
        return Cell()
    last = hit.iloc[-1]
    pm = none_if_nan(last["pm"])
    return Cell(value=float(last["value"]), pm=None if pm is None else float(pm))


def _their_cell(recs: pd.DataFrame, metrics: tuple[str, ...]) -> Cell:
    hit = recs[recs["metric"].isin(metrics)]
    if hit.empty:
        return Cell()
    last = hit.iloc[-1]
    return Cell(value=float(last["value"]), mark=mark(str(last["status"])), places=int(last["places"]))


def _seeds(frame: pd.DataFrame, model: str) -> int:
    return len({none_if_nan(s) for s in frame.loc[frame["model"] == model, "seed"]})


def _unique_label(label: str, run: Any, taken: dict[str, Any]) -> str:
    return label if label not in taken else f"{label} {run}"


def _missing_note(ours: pd.DataFrame, suite: str, dataset: str | None = None,
                  elsewhere: list[str] | None = None) -> list[str]:
    """Say that a table holds published numbers only, naming the dataset (and where our runs are instead)."""
    if not ours.empty:
        return []
    if dataset is None:
        return [f"No {suite} runs among the inputs: published numbers only."]
    where = f" (ours are on {', '.join(elsewhere)})" if elsewhere else ""
    return [f"No {suite} runs on {dataset} among the inputs{where}: published numbers only."]

