"""``report paper``: the paper's layouts, published numbers beside ours with sources, unconfirmed ones marked."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.reports.aggregate import with_spread
from ebmbench.reports.cli import report
from ebmbench.reports.load import load_runs
from ebmbench.reports.paper import epsilon_text, ood_tables, quality_table, robustness_table
from ebmbench.reports.published import load_published, published_text
from ebmbench.reports.render import latex_tables, markdown_tables
from ebmbench.runner import run_suite


@pytest.fixture
def cifar_runs(make_run, record) -> list[Path]:
    ood = [record(dataset="cifar10", eval_set=s, value=v, ci_low=v - 0.01, ci_high=v + 0.01,
                  extra={"score": "-E(x)"}) for s, v in (("svhn", 0.66), ("dtd", 0.51), ("interp:cifar10", 0.72))]
    # robustness records as the suite writes them (metric names, eval sets and extra fields)
    acc = [record(suite="robustness", metric="clean_accuracy", eval_set="langevin/clean/test", value=0.95,
                  extra={"defense": "langevin", "threat_model": "clean"})]
    acc += [record(suite="robustness", metric="robust_accuracy", eval_set=f"langevin/{t}/linf@{e}/255", value=v,
                   extra={"defense": "langevin", "threat_model": t, "norm": "linf", "epsilon": e / 255})
            for t, e, v in (("transfer-from-classifier", 8, 0.6), ("transfer-from-classifier", 4, 0.7),
                            ("bpda+eot", 4, 0.4), ("bpda+eot", 8, 0.2))]
    quality = [record(suite="quality", dataset="cifar10", eval_set="samples", metric="fid", value=55.0,
                      extra={"extractor": "inception-v3-compat", "steps": 60})]
    return [make_run("ood", ood), make_run("rob", acc), make_run("q", quality)]


def test_packaged_reference_data_is_complete_and_well_formed() -> None:
    rows = list(csv.reader(io.StringIO(published_text())))
    assert {len(r) for r in rows} == {9}  # a model name with a comma must be quoted
    published = load_published()
    assert len(published) == len(rows) - 1
    assert set(published["status"]) == {"confirmed", "unconfirmed"}
    ensemble = published[published["model"] == "EBM (unconditional, 10 historical ensemble)"]
    assert sorted(ensemble["value"]) == [6.78, 38.2]


def test_ood_table_sets_rows_models_columns_published_beside_ours(cifar_runs: list[Path]) -> None:
    frame = with_spread(load_runs(cifar_runs).frame)
    (table,) = ood_tables(frame, load_published())
    assert table.columns[0] == "ebm [-E(x)] (ours)"
    ebm_label = "EBM (conditional, min over labels) [du2019igebm]"  # the paper's OOD column
    assert ebm_label in table.columns and "JEM [grathwohl2019jem]" in table.columns
    rows = {r.labels[0]: r for r in table.rows}
    assert list(rows)[:5] == ["svhn", "dtd", "constant", "uniform", "interp:cifar10"]  # the suite's names
    assert list(rows)[-1] == "average"
    ours = rows["dtd"].cells[0]
    assert (ours.value, ours.mark) == (0.51, "")
    ebm = table.columns.index(ebm_label)
    assert rows["dtd"].cells[ebm].value == 0.48  # the paper's "textures" row, under the suite's name
    assert (rows["svhn"].cells[ebm].value, rows["svhn"].cells[ebm].mark) == (0.63, "")  # confirmed
    assert (rows["constant"].cells[ebm].value, rows["constant"].cells[ebm].mark) == (0.30, "†")  # unconfirmed
    assert (rows["average"].cells[ebm].value, rows["average"].cells[ebm].mark) == (0.62, "†")
    assert rows["interp:cifar10"].cells[0].value == 0.72 and rows["interp:cifar10"].cells[ebm].value == 0.70
    assert any("unconfirmed" in n for n in table.notes) and any("du2019igebm" in n for n in table.notes)


def test_a_dataset_without_our_runs_says_which_and_where_ours_are(make_run, record) -> None:
    digits = [record(dataset="digits", eval_set="interp:digits", value=0.8, extra={"score": "-E(x)"})]
    frame = with_spread(load_runs([make_run("ood", digits)]).frame)
    tables = {t.title: t for t in ood_tables(frame, load_published())}
    cifar = tables["OOD detection AUROC ↑, in-distribution cifar10"]
    assert "No ood runs on cifar10 among the inputs (ours are on digits): published numbers only." in cifar.notes
    ours = tables["OOD detection AUROC ↑, in-distribution digits"]
    assert not any(n.startswith("No ood runs") for n in ours.notes)
    assert ours.rows[0].labels[0] == "interp:digits"


def test_quality_table_lists_ours_then_published_with_sources(cifar_runs: list[Path]) -> None:
    table = quality_table(with_spread(load_runs(cifar_runs).frame), load_published())
    assert table.columns == ["IS ↑", "FID ↓"]
    first = table.rows[0]
    assert first.labels[:2] == ["ebm", "cifar10"] and first.labels[3:] == ["inception-v3-compat", "60", "ours"]
    assert first.cells[0].empty and first.cells[1].value == 55.0
    published = {(r.labels[0], r.labels[1]): r for r in table.rows[1:]}
    uncond = published[("EBM (unconditional)", "cifar10")]
    assert (uncond.labels[-1], uncond.cells[0].value, uncond.cells[1].value) == ("du2019igebm", 6.02, 40.58)
    imagenet = published[("EBM (conditional)", "imagenet32")]
    assert [c.mark for c in imagenet.cells] == ["†", "†"] and uncond.cells[1].mark == ""


def test_robustness_table_threat_models_side_by_side(cifar_runs: list[Path]) -> None:
    table = robustness_table(with_spread(load_runs(cifar_runs).frame), load_published())
    assert table.columns == ["ebm [langevin, transfer-from-classifier] (ours)", "ebm [langevin, bpda+eot] (ours)",
                             "JEM [grathwohl2019jem]"]
    assert [r.labels for r in table.rows] == [["clean", ""], ["linf", "4/255"], ["linf", "8/255"]]
    assert [c.value for c in table.rows[0].cells] == [0.95, 0.95, 0.929]
    assert [c.value for c in table.rows[2].cells] == [0.6, 0.2, None]
    assert [c.best for c in table.rows[2].cells] == [True, False, False]


def test_robustness_table_shows_every_number_of_a_real_suite_run(tiny_cond_ebm_path: Path,
                                                                  tiny_classifier_path: Path, tmp_path: Path) -> None:
    settings = ["n=16", "norms=linf", "linf_eps=0.1", "steps=2", "adaptive=bpda+eot", "eot=1", "draws=1",
                "purify_steps=1", "default_baselines=false"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sanity checks may warn on so small a run
        run = run_suite("robustness", tiny_cond_ebm_path, tmp_path / "run", settings, {"clf": tiny_classifier_path},
                        device="cpu", progress=False, model_name="cebm")
    table = robustness_table(with_spread(load_runs([run.path]).frame), load_published())
    rows = {tuple(r.labels): r for r in table.rows}
    accuracies = [r for r in run.records() if r.metric in ("clean_accuracy", "robust_accuracy")]
    assert {r.extra["defense"] for r in accuracies} == {"none", "langevin", "noise-only"}

    def defense_of(column: str) -> str:
        return next((d for d in ("langevin", "noise-only") if f"[{d}" in column), "none")

    for r in accuracies:
        parts = [p for p in (r.extra["defense"], r.extra["threat_model"]) if p not in ("none", "clean")]
        columns = ([f"{r.model} [{', '.join(parts)}] (ours)" if parts else f"{r.model} (ours)"]
                   if r.metric == "robust_accuracy" else
                   [c for c in table.columns if c.startswith(r.model) and c.endswith("(ours)")
                    and defense_of(c) == r.extra["defense"]])
        row = rows[("clean", "") if r.metric == "clean_accuracy" else ("linf", epsilon_text(r.extra["epsilon"]))]
        assert columns, r
        for column in columns:
            assert row.cells[table.columns.index(column)].value == pytest.approx(r.value), (column, r.eval_set)
    assert not any("No robustness runs" in n for n in table.notes)


def test_epsilon_in_paper_units() -> None:
    assert [epsilon_text(e) for e in (8 / 255, 0.3, 0.0, 0.2, 51 / 255)] == ["8/255", "0.3", "0", "0.2", "0.2"]


def test_paper_markdown_and_latex_render_published_marks(cifar_runs: list[Path], md_tables, balanced_latex) -> None:
    frame = with_spread(load_runs(cifar_runs).frame)
    tables = ood_tables(frame, load_published())
    tex = latex_tables(tables)
    balanced_latex(tex)
    assert r"$0.32^{\dagger}$" in tex and r"$\mathbf{0.30}^{\dagger}$" in tex and r"\toprule" in tex
    md = md_tables(markdown_tables(tables))
    header, rows = md["OOD detection AUROC ↑, in-distribution cifar10"]
    constant = next(r for r in rows if r[0] == "constant")
    assert constant[header.index("EBM (conditional, min over labels) [du2019igebm]")] == "**0.30**†"


def test_paper_command_writes_document_and_curves(cifar_runs: list[Path], tmp_path: Path, balanced_latex) -> None:
    out = tmp_path / "paper" / "tables.tex"
    result = CliRunner().invoke(report, ["paper", *map(str, cifar_runs), "--format", "latex", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tex = out.read_text()
    balanced_latex(tex)
    assert r"\includegraphics[width=\linewidth]{robustness_curves.png}" in tex
    assert (out.parent / "robustness_curves.png").read_bytes()[:4] == b"\x89PNG"
    md = CliRunner().invoke(report, ["paper", str(cifar_runs[0])])
    assert md.exit_code == 0 and "# Paper tables" in md.output and "No robustness runs among the inputs" in md.output
