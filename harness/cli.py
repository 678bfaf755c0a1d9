"""The ``ebmbench`` command line: train, info, run, list, quickstart (and report/compare from reports).

User errors print one line and exit non-zero, without a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from ebmbench import __version__
from ebmbench.errors import EbmbenchError, Terminated, one_line

DEVICE = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
DATA_ROOT = click.option("--data-root", type=click.Path(path_type=Path), default=None,
                         help="Where real datasets live [default: $EBMBENCH_DATA or ~/.cache/ebmbench/data].")
DOWNLOAD = click.option("--download", is_flag=True, help="Allow downloading missing datasets (off by default).")
SETTINGS = click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
                        help="Set an option (repeatable); `ebmbench list` shows each suite's options.")
SEED = click.IntRange(0, 2**63 - 1)  # what torch, numpy and Python's random all accept
QUIET = click.option("--quiet", is_flag=True,
                     help="No progress bars (they are also off when stderr is not a terminal, e.g. in CI logs).")


def show_progress(quiet: bool) -> bool:
    """Progress bars for people at a terminal; redrawn bars would only bloat a log file."""
    return not quiet and sys.stderr.isatty()


def _one_line_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> str:
    return f"warning: {message}\n"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises ``Terminated`` (a KeyboardInterrupt) in the main thread, so a job
    killed by Slurm or CI leaves its run marked ``interrupted`` as Ctrl-C does; the previous handler returns
    afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _usage_error(exc: click.UsageError) -> NoReturn:
    where = exc.ctx.command_path if exc.ctx is not None else "ebmbench"
    message = " ".join(exc.format_message().split())
    click.echo(f"error: {message} (see `{where} --help`)", err=True)
    sys.exit(2)


class Main(click.Group):
    """Turns EbmbenchError into one line on stderr and its exit code; Ctrl-C into a resumable stop; warnings
    into one line without Python's file:line prefix."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """The top level's own options (``ebmbench --bogus``) refused in one line, like a subcommand's."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `ebmbench`: click shows the help, as it should
                raise
            _usage_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        import warnings

        warnings.formatwarning = _one_line_warning
        try:
            with sigterm_as_interrupt():
                return super().invoke(ctx)
        except Terminated:
            click.echo("terminated (SIGTERM): finished work is saved; re-run the same command to resume", err=True)
            sys.exit(143)
        except EbmbenchError as exc:
            click.echo(f"error: {one_line(exc)}", err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:  # a bad option value: one line, like every other refusal
            _usage_error(exc)
        except (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
            # a path the user gave cannot be written (a file where a folder must go, no permission)
            click.echo(f"error: cannot write {exc.filename}: {exc.strerror}; choose another path", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: finished work is saved; re-run the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="ebmbench")
def main() -> None:
    """Train energy-based models and evaluate them: sample quality, OOD detection, adversarial robustness."""


def check_writable_file(out: Path) -> None:
    """Fail before training, not after: ``out`` must be a file path in a folder that exists (or can be made)
    and can be written."""
    if out.is_dir():
        raise EbmbenchError(f"{out} is a folder; --out is the checkpoint file to write (e.g. {out}/model.safetensors)")
    folder = next((p for p in [out.parent, *out.parent.parents] if p.exists()), Path("."))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise EbmbenchError(f"cannot write {out}: {folder} is not a writable folder; choose another --out")


def data_context(data_root: Path | None, download: bool) -> Any:
    from ebmbench.data.base import DataContext, default_data_root

    return DataContext(root=data_root or default_data_root(), download=download)


def parse_named_paths(values: tuple[str, ...], flag: str) -> dict[str, str]:
    """``("glow=a.safetensors",)`` -> ``{"glow": "a.safetensors"}``."""
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise EbmbenchError(f"{flag} expects NAME=CHECKPOINT, got {value!r}")
        if name in out:
            raise EbmbenchError(f"{flag} names {name!r} twice; give each model its own name")
        out[name] = path
    return out


def option_lines(cls: type, indent: int = 6) -> str:
    """One line per option of an options dataclass: ``key=default  help`` (groups as ``group.key``)."""
    from ebmbench.options import describe

    rows = [(f"{key}={_default_text(default)}", text) for key, _, default, text in describe(cls)]
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{'':<{indent}}{k:<{width}}  {text}".rstrip() for k, text in rows)


def _default_text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)


def _trainer_options(family: str) -> type:
    from ebmbench.training.common import trainer

    return trainer(family).Config


class OptionsHelp(click.Command):
    """A command whose ``--help`` ends with every option that ``--set`` accepts, read from the registries only
    when help is asked for (so that ``ebmbench --help`` imports no suite or trainer)."""

    def __init__(self, *args: Any, options_of: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options_of = options_of

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ebmbench.registries import SUITES, TRAINERS

        super().format_epilog(ctx, formatter)
        if self.options_of == "suites":
            entries = [(f"{n} (--set)", SUITES.get(n).Options) for n in SUITES.names()]
        else:
            entries = [(f"--kind {n} (--set)", _trainer_options(n)) for n in TRAINERS.names()]
        for title, cls in entries:
            with formatter.section(title):
                formatter.write(option_lines(cls, indent=formatter.current_indent) + "\n")


@main.command(cls=OptionsHelp, options_of="trainers")
@click.option("--kind", default="ebm", show_default=True, help="Model family to train (see `ebmbench list`).")
@click.option("--dataset", default=None, help="Training dataset [default: the family's, digits].")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Checkpoint file to write.")
@SETTINGS
@click.option("--adv-train", default=None, metavar="NORM:EPS", help="PGD adversarial training (classifier).")
@click.option("--seed", type=SEED, default=None, help="Random seed [default: 0].")
@click.option("--resume", is_flag=True, help="Continue from --out if it exists (same options required).")
@DEVICE
@DATA_ROOT
@DOWNLOAD
@QUIET
def train(kind: str, dataset: str | None, out: Path, settings: tuple[str, ...], adv_train: str | None,
          seed: int | None, resume: bool, device: str, data_root: Path | None, download: bool, quiet: bool) -> None:
    """Train a model and write a self-describing checkpoint (periodically, so --resume can continue).

    Under torchrun (`torchrun --nproc-per-node N -m ebmbench train ...`) EBMs and JEMs train data-parallel:
    batch_size stays the global batch, split evenly over the N processes; rank 0 writes the checkpoint."""
    from ebmbench import distributed
    from ebmbench.devices import resolve_device
    from ebmbench.limits import SMALLEST_IMAGE, check_sizes
    from ebmbench.options import build_options, parse_pairs
    from ebmbench.registries import TRAINERS
    from ebmbench.training.common import TrainRequest, trainer

    module = trainer(kind)
    if distributed.launched() and not module.data_parallel:
        parallel = ", ".join(n for n in TRAINERS.names() if trainer(n).data_parallel)
        raise EbmbenchError(f"train --kind {kind} runs in one process; under torchrun only --kind {parallel} "
                            "train data-parallel: start this one without torchrun")
    values: dict[str, Any] = parse_pairs(settings)
    for key, value in (("dataset", dataset), ("seed", seed), ("adv_train", adv_train)):
        if value is not None:
            values[key] = str(value)
    config = build_options(module.Config, values)
    check_sizes(config, SMALLEST_IMAGE, f"train --kind {kind}")
    check_writable_file(out)
    if out.exists() and not resume:
        raise EbmbenchError(f"{out} exists; pass --resume to continue it or choose another --out")
    try:
        dev = distributed.init(resolve_device(device))  # under torchrun: join the group, take this rank's GPU
        req = TrainRequest(out=out, device=dev, resume=resume, progress=show_progress(quiet))
        path = module.train(config, req, data_context(data_root, download))
    except BaseException:
        distributed.shutdown(ok=False)  # under torchrun: leave the group at once, the others may be waiting
        raise
    if distributed.is_main():
        click.echo(f"wrote {path}")
    distributed.shutdown()


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
def info(checkpoint: Path) -> None:
    """Describe a checkpoint (family, config, data, shapes, classes, training, version, SHA-256) and check that
    it loads: exit 2 when its family is unknown here or its weights do not match its description."""
    from ebmbench.checkpoint import file_sha256, load_checkpoint, read_header

    header = read_header(checkpoint)
    meta = header["info"]
    training = header.get("training", {})
    rows = [("file", str(checkpoint)), ("sha256", file_sha256(checkpoint)), ("family", header["family"]),
            ("dataset", meta["dataset"]), ("input shape", "x".join(map(str, meta["input_shape"]))),
            ("value range", f"[{meta['value_range'][0]}, {meta['value_range'][1]}]"),
            ("classes", str(meta["num_classes"])), ("conditional", str(meta["conditional"]).lower()),
            ("config", _kv(header["config"])), ("training steps", str(training.get("step", "n/a"))),
            ("trained on", _processes(training)),
            ("training metrics", _kv(training.get("metrics", {}))),
            ("training config", _kv(training.get("config", {}))),
            ("ebmbench version", header.get("ebmbench_version", "?"))]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{key:<{width}}  {one_line(value)}")
    load_checkpoint(checkpoint)  # a CheckpointError here is the one-line verdict after the description
    click.echo(f"{'loads':<{width}}  yes")


def _processes(training: dict[str, Any]) -> str:
    """How many processes trained a checkpoint and over which backend ("n/a" before ebmbench recorded it)."""
    size, backend = training.get("world_size"), training.get("backend")
    if size is None:
        return "n/a"
    return f"{size} processes ({backend})" if backend else "1 process"


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in d.items()) or "-"


@main.command(cls=OptionsHelp, options_of="suites")
@click.argument("suite")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None,
              help="Checkpoint to test (ebmbench's format: `ebmbench train` or `ebmbench import`).")
@click.option("--model-factory", default=None, metavar="PKG.MODULE:FUNCTION",
              help="Your own code builds the model (it returns ebmbench.wrap(...)); needs --weights. Code is "
                   "imported only when this flag names it, never because of a checkpoint.")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="Weights for --model-factory: safetensors or a torch file (read with weights_only=True).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Run directory [default: runs/SUITE-MODEL]; re-running into it resumes.")
@SETTINGS
@click.option("--baseline", "baselines", multiple=True, metavar="NAME=CKPT", help="A baseline model (repeatable).")
@click.option("--with-default-baselines", "defaults_too", is_flag=True,
              help="Also train/use the suite's default baselines (digits) when --baseline models are given.")
@click.option("--name", default=None, help="Model name in tables [default: checkpoint or weights file name].")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed for sampling, subsets, attacks and bootstrap; part of the run's identity.")
@click.option("--overwrite", is_flag=True, help="Discard an existing run in --out instead of resuming it.")
@DEVICE
@DATA_ROOT
@DOWNLOAD
@QUIET
def run(suite: str, model_path: Path | None, model_factory: str | None, weights: Path | None, out: Path | None,
        settings: tuple[str, ...], baselines: tuple[str, ...], defaults_too: bool, name: str | None, seed: int,
        overwrite: bool, device: str, data_root: Path | None, download: bool, quiet: bool) -> None:
    """Run SUITE (energy, quality, ood, robustness or a plugin's; see `ebmbench list`) on a checkpoint (--model)
    or on your own code's model (--model-factory with --weights) and write a run directory (manifest.json,
    results.jsonl, plots)."""
    from ebmbench import distributed
    from ebmbench.runner import run_model, run_suite

    if (model_path is None) == (model_factory is None):
        raise EbmbenchError("give either --model CHECKPOINT or --model-factory PKG.MODULE:FUNCTION --weights FILE")
    if (model_factory is None) != (weights is None):
        raise EbmbenchError("--weights goes with --model-factory (a checkpoint given with --model holds its weights)")
    named = parse_named_paths(baselines, "--baseline")
    common = (settings, named, device, seed, data_context(data_root, download), overwrite, show_progress(quiet),
              name)
    try:
        if model_path is not None:
            out = out or Path("runs") / f"{suite}-{model_path.stem}"
            rundir = run_suite(suite, model_path, out, *common, defaults_too=defaults_too)
        else:
            from ebmbench.factory import build_from_factory

            model, source = build_from_factory(model_factory, weights)
            out = out or Path("runs") / f"{suite}-{source.name}"
            rundir = run_model(suite, model, source, out, *common, defaults_too=defaults_too)
    except BaseException:
        distributed.shutdown(ok=False)  # under torchrun: leave the group at once, the others may be waiting
        raise
    if distributed.is_main():
        click.echo(_summary(rundir))
    distributed.shutdown()


def _summary(rundir: Any) -> str:
    from ebmbench.summary import summary_table

    return f"{summary_table(rundir.records())}\n\nresults in {rundir.path}"


@main.command(name="list")
def list_() -> None:
    """List suites (with their options), datasets and model families."""
    from ebmbench.registries import DATASETS, MODELS, SUITES, TRAINERS

    click.echo("suites (options: ebmbench run SUITE --set KEY=VALUE):")
    for name in SUITES.names():
        cls = SUITES.get(name)
        click.echo(f"  {name:<14} v{cls.version}  {cls.description}")
        click.echo(option_lines(cls.Options))
    click.echo("datasets:")
    for name in DATASETS.names():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()
        click.echo(f"  {name:<14} {doc[0] if doc else ''}")
    click.echo("models (train with `ebmbench train --kind NAME`):")
    for name in MODELS.names():
        cls = MODELS.get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        trainable = "" if name in TRAINERS else " (not trainable)"
        click.echo(f"  {name:<14} {doc[0] if doc else ''}{trainable}")
        if trainable == "":
            click.echo(option_lines(_trainer_options(name)))



@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/quickstart"), show_default=True,
              help="Folder for the suites' run directories and the reports.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where trained models are cached [default: $EBMBENCH_CACHE or ~/.cache/ebmbench].")
@click.option("--iterations", type=int, default=None, help="EBM training iterations [default: the trainer's].")
@click.option("--suites", default=None, metavar="NAME,...", help="Only these suites [default: every registered one].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the suites (the cached models are the same for every seed); e.g. a second run to "
                   "`ebmbench compare` with the first.")
@DEVICE
@QUIET
def quickstart(out: Path, cache_dir: Path | None, iterations: int | None, suites: str | None, seed: int,
               device: str, quiet: bool) -> None:
    """Train a small conditional EBM on the bundled digits (cached) and run every suite on it, then write
    Markdown and HTML reports."""
    from ebmbench.quickstart import run_quickstart

    names = [s.strip() for s in suites.split(",") if s.strip()] if suites is not None else None
    run_quickstart(out, cache_dir, device, progress=show_progress(quiet), iterations=iterations, suites=names,
                   echo=click.echo, seed=seed)


@main.command()
@click.argument("plan", type=click.Path(path_type=Path))
@click.option("--jobs", type=int, default=1, show_default=True,
              help="Units at a time (local pool processes, or Slurm array parallelism).")
@click.option("--executor", type=click.Choice(["pool", "local", "debug", "slurm"]), default="pool",
              show_default=True, help="pool: local processes; slurm: submitit on Slurm ([slurm] table of the "
              "plan); local/debug: submitit's local executors (for trying a Slurm plan).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Override the plan's out folder.")
@click.option("--dry-run", is_flag=True, help="List the plan's units, each marked done or to run, and run nothing.")
def sweep(plan: Path, jobs: int, executor: str, out: Path | None, dry_run: bool) -> None:
    """Run a sweep PLAN (TOML: checkpoints x suites x seeds x option grids): one resumable run directory per
    unit and an aggregated report (report.md, report.html). Finished units are skipped on a re-run; failed ones
    are listed and the exit code is 1."""
    from ebmbench.reports.report import write_reports
    from ebmbench.sweep import finished, load_plan, run_sweep

    loaded = load_plan(plan, out)
    if dry_run:
        done = [finished(unit) for unit in loaded.units]
        for unit, is_done in zip(loaded.units, done, strict=True):
            settings = " ".join(unit.settings) or "defaults"
            click.echo(f"{'done' if is_done else 'to run':7} {unit.suite} on {unit.model}, seed {unit.seed}, "
                       f"{settings} -> {unit.label}")
        click.echo(f"sweep plan: {len(done)} units, {sum(done)} done, {len(done) - sum(done)} to run")
        return
    outcomes = run_sweep(loaded, jobs, executor, echo=click.echo,
                         report=lambda paths, folder: write_reports(paths, folder, aggregate=True))
    failed = [o for o in outcomes if o.status == "failed"]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    click.echo(f"sweep: {counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
               f"report in {loaded.out / 'report.md'}")
    if failed:
        sys.exit(1)


def _add_commands() -> None:
    """Commands that live beside the code they drive: reports and the quality suite's reference statistics."""
    from ebmbench.importers.cli import import_
    from ebmbench.reports.cli import compare, report
    from ebmbench.suites.quality.cli import stats

    for command in (report, compare, stats, import_):
        main.add_command(command)


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
