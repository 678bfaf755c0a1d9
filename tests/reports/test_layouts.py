"""Paper layouts by default (OOD sets, ε and steps as columns; short names with one legend), the one-page HTML
report (summary first, warnings panel, sortable tables, captioned figures, provenance last) and the leaderboard."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ebmbench.reports.cli import report
from ebmbench.reports.load import load_runs
from ebmbench.reports.report import render_report

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJ"
                       "RU5ErkJggg==")


def ood_records(record, model="ebm", shift=0.0):
    out = []
    for score, label, base in (("min_energy", "-min_y E(x,y)", 0.9), ("grad_norm", "-grad norm", 0.6)):
        extra = {"score": score, "score_label": label}
        for eval_set, v in (("uniform", base), ("flip:digits", base - 0.2), ("average", base - 0.1)):
            out.append(record(model=model, eval_set=eval_set, value=v + shift, ci_low=v + shift - 0.01,
                              ci_high=v + shift + 0.01, extra=extra))
            out.append(record(model=model, eval_set=eval_set, metric="fpr95", value=0.3 - shift, extra=extra))
    out.append(record(model="Glow", eval_set="digits:test", metric="bits_per_dim", value=2.5))
    out.append(record(model="Glow", eval_set="uniform", value=1.0, extra={"score": "log_prob",
                                                                       "score_label": "log p(x)"}))
    return out


def robustness_records(record):
    def rob(metric, value, defense, threat, norm=None, eps=None, label=None, model="ebm"):
        extra = {"defense": defense, "threat_model": threat}
        if norm:
            extra.update(norm=norm, epsilon=eps, epsilon_label=label)
        return record(suite="robustness", model=model, metric=metric, value=value,
                      eval_set=f"{defense}/{threat}/{norm}@{label}", extra=extra)

    out = [rob("clean_accuracy", 0.9, "none", "clean"), rob("clean_accuracy", 0.85, "langevin", "clean")]
    for eps, label, drop in ((0.2, "0.2", 0.5), (0.1, "0.1", 0.3), (8 / 255, "8/255", 0.1)):
        out += [rob("robust_accuracy", 0.9 - drop, "none", "white-box", "linf", eps, label),
                rob("robust_accuracy", 0.85 - drop / 2, "langevin", "transfer-from-classifier", "linf", eps, label),
                rob("robust_accuracy", 0.85 - drop / 3, "langevin", "bpda+eot", "linf", eps, label),
                rob("robust_accuracy", 0.8, "langevin", "transfer-from:classifier-pgd", "linf", eps, label)]
    out.append(record(suite="robustness", metric="sanity_monotone", value=1.0, eval_set="all"))
    return out


def quality_records(record):
    out = []
    for eval_set, steps, fid in (("real:test", None, 0.3), ("uniform", None, 40.0), ("samples", 40, 3.0),
                                 ("samples", 10, 9.0)):
        extra = {"extractor": "digits-cnn", **({"steps": steps} if steps else {})}
        out += [record(suite="quality", eval_set=eval_set, metric="fid", value=fid, extra=extra),
                record(suite="quality", eval_set=eval_set, metric="inception_score", value=10 - fid / 5, extra=extra)]
    return out


@pytest.fixture
def runs(make_run, record) -> list[Path]:
    ood = make_run("ood", ood_records(record))
    (ood / "hist").mkdir()
    (ood / "hist" / "uniform.png").write_bytes(PNG)
    rob = make_run("robustness", robustness_records(record))
    (rob / "robustness_curves.png").write_bytes(PNG)
    return [ood, rob, make_run("quality", quality_records(record)),
            make_run("energy", [record(suite="energy", metric="train_test_gap", eval_set="test-train", value=0.01)])]


def test_ood_rows_are_models_and_scores_and_columns_are_sets(runs, md_tables) -> None:
    tables = md_tables(render_report(load_runs(runs), "md"))
    header, rows = tables["OOD detection: AUROC ↑ (digits)"]
    assert header == ["model", "score", "uniform", "flip:digits", "average"]  # the average last
    assert [r[:2] for r in rows] == [["ebm", "-min_y E(x,y)"], ["ebm", "-grad norm"], ["Glow", "log p(x)"]]
    assert rows[0][2] == "0.9000 ± 0.0100" and rows[2][2] == "**1.000**" and rows[2][3] == "–"  # best per set
    header, rows = tables["OOD detection: AUPR-IN ↑, AUPR-OUT ↑, FPR@95TPR ↓ (digits)"]
    assert header[:3] == ["model", "score", "metric"] and rows[0][2] == "FPR@95TPR ↓"
    header, rows = tables["Likelihood models: test bits/dim ↓ (digits)"]
    assert header == ["model", "digits:test"] and rows == [["Glow", "2.500"]]


def test_robustness_rows_are_model_defense_threat_and_columns_are_epsilons(runs, md_tables) -> None:
    md = render_report(load_runs(runs), "md")
    header, rows = md_tables(md)["Robust accuracy ↑ against ε, linf (digits)"]
    assert header == ["model", "defense", "threat model", "clean", "ε=8/255", "ε=0.1", "ε=0.2"]
    assert [r[:3] for r in rows] == [["ebm", "plain", "white-box"], ["ebm", "Langevin", "paper"],
                                     ["ebm", "Langevin", "BPDA+EOT"], ["ebm", "Langevin", "from classifier-pgd"]]
    assert rows[0][3] == "0.9000" and rows[1][3] == "0.8500"  # each view's clean accuracy leads its rows
    assert rows[2][4:] == ["0.8167", "0.7500", "0.6833"]
    legend = md[md.index("## Legend"):]
    assert legend.count("**BPDA+EOT**") == 1 and "**from classifier-pgd**" in legend and "**paper**" in legend
    assert "transfer-from:classifier-pgd" not in md.split("## Legend")[0]  # long names only in the legend
    assert "sanity_monotone" in md  # records outside the layouts are not lost


def test_quality_is_against_steps_with_real_data_and_noise_first(runs, md_tables) -> None:
    header, rows = md_tables(render_report(load_runs(runs), "md"))["Sample quality against Langevin steps (digits)"]
    assert header == ["model", "extractor", "metric", "real data", "uniform noise", "10 steps", "40 steps"]
    assert rows[0][2:] == ["FID ↓", "0.3000", "40.00", "9.000", "3.000"]


def test_latex_uses_the_layouts_and_stays_balanced(runs, balanced_latex) -> None:
    tex = render_report(load_runs(runs), "latex")
    balanced_latex(tex)
    assert r"\begin{description}" in tex and "BPDA+EOT" in tex and "Robust accuracy" in tex


def test_csv_keeps_the_long_generic_records(runs) -> None:
    csv_text = render_report(load_runs(runs), "csv")
    assert csv_text.startswith("table,metric,eval set") and "transfer-from:classifier-pgd" in csv_text


def test_html_page_summary_first_warnings_sortable_figures_provenance_last(runs) -> None:
    page = render_report(load_runs(runs), "html")
    order = [page.index(s) for s in ('id="summary"', 'id="warnings"', 'id="suite-ood"', 'id="legend"',
                                     'id="provenance"')]
    assert order == sorted(order)
    summary = page[page.index('id="summary"'):page.index('id="suite-')]
    assert "AUROC ↑" in summary and "0.8000 ± 0.0100" in summary and "best of 2: -min_y E(x,y)" in summary
    # the model's best defense, under the adversary's best threat model, at the largest ε
    assert "robust accuracy ↑" in summary and "best of 2: Langevin; worst of 3: paper" in summary
    assert "0.6000" in summary and "linf ε=0.2" in summary
    assert "FID ↓" in summary and "40 steps" in summary
    assert "sanity check monotone" in summary  # a fired check is a warning
    assert page.count('class="sortable"') >= 5 and "<script>" in page and 'class="scroll"' in page
    assert "<figcaption>Score histograms: in-distribution vs uniform" in page
    assert "<figcaption>Accuracy against ε under each threat model" in page
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", page)  # nothing fetched from outside


def test_html_escapes_names(make_run, record) -> None:
    page = render_report(load_runs([make_run("x", [record(model="<b>evil</b>")])]), "html")
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page


def test_leaderboard_ranks_models_across_runs_with_intervals(make_run, record, md_tables) -> None:
    a = make_run("a", ood_records(record, "ebm-a"), model="ebm-a")
    b = make_run("b", ood_records(record, "ebm-b", shift=0.05), model="ebm-b")
    result = CliRunner().invoke(report, [str(a), str(b), "--leaderboard"])
    assert result.exit_code == 0, result.output
    header, rows = md_tables(result.output)["Leaderboard: ood on digits"]
    assert header[:3] == ["rank", "model", "variant"] and header[-1] == "AUROC ↑"
    assert [r[:2] for r in rows[:2]] == [["1", "ebm-b"], ["2", "ebm-a"]]
    assert rows[0][-1] == "0.8500 ± 0.0100" and rows[0][2] == "best of 2: -min_y E(x,y)"
