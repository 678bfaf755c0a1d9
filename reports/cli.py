"""Click commands of the reports: ``report`` (with its ``paper`` sub-mode) and ``compare``.

The main CLI adds them with ``main.add_command(report)`` and ``main.add_command(compare)``. Errors the user can
fix print one line and exit with code 2 here already, so the commands behave the same standalone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ebmbench.errors import EbmbenchError, one_line

RUN_DIRS = click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
AGGREGATE = click.option("--aggregate-seeds", is_flag=True,
                         help="Merge seeds of the same model and configuration: mean ± standard deviation.")
OUT = click.option("--out", type=click.Path(path_type=Path), default=None,
                   help="Write to this file instead of standard output.")


def one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an EbmbenchError into ``error: ...`` on stderr and its exit code (2), without a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EbmbenchError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            raise click.exceptions.Exit(exc.exit_code) from None

    return wrapper


class DefaultToTables(click.Group):
    """``ebmbench report RUN...`` runs the ``tables`` subcommand; ``ebmbench report paper RUN...`` the paper.
    A run directory literally named like a subcommand can be given as ``./paper``."""

    default = "tables"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            if not Path(args[0]).exists():
                from ebmbench.suggest import closest

                close = closest(args[0], self.commands, by_edits=False)
                if close:
                    raise EbmbenchError(f"{args[0]} is neither a run directory nor a subcommand; did you mean "
                                        f"`report {close[0]}`?")
            args = [self.default, *args]
        return super().parse_args(ctx, args)


@click.group("report", cls=DefaultToTables)
def report() -> None:
    """Tables from run directories: `report RUN...` (comparison tables) or `report paper RUN...`.

    A RUN may be a run directory or a folder of run directories.
    """


@report.command("tables")
@RUN_DIRS
@click.option("--format", "fmt", type=click.Choice(["md", "latex", "csv", "html", "json"]), default="md",
              show_default=True, help="Output format; html is one self-contained file with the plots embedded.")
@OUT
@AGGREGATE
@click.option("--layout", type=click.Choice(["paper", "generic"]), default="paper", show_default=True,
              help="paper: each suite's paper tables (OOD sets, ε, steps as columns); generic: one table per suite "
                   "with models as columns (csv and json are always generic).")
@click.option("--leaderboard", is_flag=True,
              help="One table per suite ranking the models of every run on its headline metric, with intervals.")
@click.option("--to", "to", type=click.Choice(["mlflow"]), default=None,
              help="Log every run (records as metrics, options as parameters, files as artifacts) to a tracker.")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI [default: ./mlruns].")
@one_line_errors
def tables(run_dirs: tuple[Path, ...], fmt: str, out: Path | None, aggregate_seeds: bool, layout: str,
           leaderboard: bool, to: str | None, tracking_uri: str | None) -> None:
    """Tables from run directories: each suite's paper layout, ± confidence intervals, best in bold."""
    from ebmbench.reports.load import load_runs
    from ebmbench.reports.report import render_leaderboard, render_report

    runs = load_runs(list(run_dirs))
    if to == "mlflow":
        from ebmbench.reports.tracking import log_to_mlflow

        for line in log_to_mlflow(runs, tracking_uri):
            click.echo(line, err=True)
        return
    if leaderboard:
        _emit(render_leaderboard(runs, fmt, aggregate_seeds), out)
        return
    _emit(render_report(runs, fmt, aggregate_seeds, layout), out)


@report.command("paper")
@RUN_DIRS
@click.option("--format", "fmt", type=click.Choice(["md", "latex"]), default="md", show_default=True)
@OUT
@click.option("--figure", type=click.Path(path_type=Path), default=None,
              help="Where to write the robustness curves [default: robustness_curves.png beside --out].")
@AGGREGATE
@one_line_errors
def paper(run_dirs: tuple[Path, ...], fmt: str, out: Path | None, figure: Path | None,
          aggregate_seeds: bool) -> None:
    """The reference paper's tables (IS/FID, OOD AUROC, robustness) with its published numbers beside ours."""
    from ebmbench.reports.load import load_runs
    from ebmbench.reports.report import render_paper

    if figure is None and out is not None:
        figure = out.parent / "robustness_curves.png"
    text = render_paper(load_runs(list(run_dirs)), fmt, aggregate_seeds, figure,
                        relative_to=out.parent if out else None)
    _emit(text, out)


@click.command("compare")
@click.argument("baseline", type=click.Path(path_type=Path))
@click.argument("candidate", type=click.Path(path_type=Path))
@click.option("--tolerance", "tolerance_file", type=click.Path(path_type=Path), default=None,
              help="TOML file overriding the per-suite tolerances (see the CI recipe in the README).")
@click.option("--markdown", "markdown_out", type=click.Path(path_type=Path), default=None,
              help="Also write the Markdown summary here (for a pull-request comment).")
@click.option("--junit", "junit_out", type=click.Path(path_type=Path), default=None,
              help="Write a JUnit XML file here for CI test reports.")
@click.option("--allow-missing", is_flag=True,
              help="A baseline metric absent from the candidate is a note, not unusable input.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Significance level of the paired tests (Holm-corrected across the tested metrics).")
@click.option("--no-tests", is_flag=True, help="Judge by tolerance and interval overlap only (no paired tests).")
@click.option("--strict", is_flag=True,
              help="Fail on a change beyond tolerance even when it rests on one untested draw per side from "
                   "different seeds (status 'seed noise?', reported but not failing by default).")
def compare(baseline: Path, candidate: Path, tolerance_file: Path | None, markdown_out: Path | None,
            junit_out: Path | None, allow_missing: bool, alpha: float, no_tests: bool, strict: bool) -> None:
    """Regression verdict of CANDIDATE against BASELINE (each a run directory or a folder of them).

    Exit code 0: no regression; 1: regression; 2: unusable input (unreadable, nothing comparable, rows not
    comparable, metrics missing, unfinished runs).
    """
    from ebmbench.reports.compare import compare_runs
    from ebmbench.reports.load import load_runs
    from ebmbench.reports.tolerances import load_tolerances
    from ebmbench.reports.verdict import junit_xml, markdown_summary, unusable_junit

    try:
        verdict = unusable_as_error(lambda: compare_runs(load_runs([baseline]), load_runs([candidate]),
                                                         load_tolerances(tolerance_file), allow_missing, alpha,
                                                         tests=not no_tests, strict=strict))
        summary = unusable_as_error(lambda: markdown_summary(verdict))
        xml = unusable_as_error(lambda: junit_xml(verdict))
    except EbmbenchError as exc:
        _write_unusable(str(exc), markdown_out, junit_out, unusable_junit)
        click.echo(f"error: {one_line(exc)}", err=True)
        raise click.exceptions.Exit(2) from None
    click.echo(summary, nl=False)
    _write(markdown_out, summary)
    _write(junit_out, xml)
    raise click.exceptions.Exit(verdict.exit_code)


def unusable_as_error(read: Callable[[], Any]) -> Any:
    """Run ``read`` (loading and judging the runs) so that ANY failure is unusable input, never a verdict:
    a CI gate must not read a damaged file as a regression (exit 1) or crash with a traceback. Errors we
    foresaw already say what is wrong; anything else is named by its type and message, on one line."""
    try:
        return read()
    except EbmbenchError:
        raise
    except Exception as exc:  # the exit-code contract needs every failure to be exit 2
        detail = " ".join(str(exc).split())[:300]
        raise EbmbenchError(f"the runs cannot be read ({type(exc).__name__}: {detail})") from None


def _write_unusable(message: str, markdown_out: Path | None, junit_out: Path | None,
                    junit: Callable[[str], str]) -> None:
    from ebmbench.reports.render import md_escape

    _write(markdown_out, f"## ebmbench compare: ⚠️ unusable input\n\n{md_escape(message)}\n\n"
                         "Exit code 2 (0 no regression, 1 regression, 2 unusable input).\n")
    _write(junit_out, junit(message))


def _write(path: Path | None, text: str) -> None:
    if path is not None:
        from ebmbench.atomic import atomic_write_text

        atomic_write_text(path, text)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
    else:
        _write(out, text)
        click.echo(f"wrote {out}", err=True)
