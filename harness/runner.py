"""Run one suite on one checkpoint into a run directory: resolve options, load and check models, let the suite
prepare (``plan = suite.prepare(ctx)``: fail fast, before long work), then ``suite.run(ctx, plan)``, resuming
where a previous run stopped."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ebmbench import distributed
from ebmbench.baselines import check_compatible
from ebmbench.checkpoint import load_checkpoint
from ebmbench.data.base import DataContext
from ebmbench.devices import device_details, resolve_device, seed_everything
from ebmbench.errors import EbmbenchError
from ebmbench.health import run_health
from ebmbench.limits import check_sizes
from ebmbench.models.base import Model, require
from ebmbench.options import build_options
from ebmbench.registries import SUITES
from ebmbench.rundir import RunDir
from ebmbench.suite import Suite, SuiteContext


def default_cache_dir() -> Path:
    import os

    return Path(os.environ.get("EBMBENCH_CACHE", Path.home() / ".cache" / "ebmbench")).expanduser()


def _check_baseline_names(suite_cls: type[Suite], model_name: str, baselines: dict[str, Any]) -> None:
    """Baselines only where the suite uses them, and never under the model's own name (their results would
    be filed under the model's)."""
    if baselines and not suite_cls.uses_baselines:
        users = [n for n in SUITES.names() if getattr(SUITES.get(n), "uses_baselines", False)]
        raise EbmbenchError(f"suite {suite_cls.name!r} does not use --baseline models; drop them (suites that "
                            f"do: {', '.join(users)})")
    if model_name in baselines:
        raise EbmbenchError(f"--baseline {model_name!r} has the model's own name; rename the baseline or pass "
                            "--name for the model")
    for name, flag in [(model_name, "--name"), *((b, "--baseline") for b in baselines)]:
        check_display_name(name, flag)


def check_display_name(name: str, flag: str) -> None:
    """Model names land in tables, reports and CI comments: one printable line of at most 200 characters."""
    if not name or len(name) > 200 or not name.isprintable():
        raise EbmbenchError(f"{flag} {name[:60]!r} is not a usable model name: give one printable line of 1 to "
                            "200 characters")


@dataclass(frozen=True)
class ModelSource:
    """Where the model under test came from, for the run's identity and manifest: ``sha256`` identifies its
    weights (the checkpoint file's hash for checkpoints), ``identity`` and ``details`` add what else made it
    (e.g. a ``--model-factory`` and its source hash), ``name`` is its default name in tables."""

    sha256: str
    name: str
    identity: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def checkpoint_source(path: str | Path, sha256: str) -> ModelSource:
    return ModelSource(sha256, Path(path).stem, details={"checkpoint": str(Path(path).resolve())})


def run_suite(suite_name: str, checkpoint: str | Path, out: str | Path, settings: Iterable[str] = (),
              baselines: dict[str, str | Path] | None = None, device: str = "auto", seed: int = 0,
              data: DataContext | None = None, overwrite: bool = False, progress: bool = True,
              model_name: str | None = None, cache_dir: Path | None = None, defaults_too: bool = False) -> RunDir:
    """Run ``suite_name`` on ``checkpoint``; returns the run directory (ARCHITECTURE.md, "Run directories and
    records")."""
    suite_cls: type[Suite] = SUITES.get(suite_name)
    build_options(suite_cls.Options, settings)  # bad options and names are refused before the checkpoint is read
    _check_baseline_names(suite_cls, model_name or Path(checkpoint).stem, baselines or {})
    ckpt = load_checkpoint(checkpoint, resolve_device(device))
    return run_model(suite_name, ckpt.model, checkpoint_source(checkpoint, ckpt.sha256), out, settings, baselines,
                     device, seed, data, overwrite, progress, model_name, cache_dir, defaults_too)


def run_model(suite_name: str, model: Model, source: ModelSource, out: str | Path, settings: Iterable[str] = (),
              baselines: dict[str, str | Path] | None = None, device: str = "auto", seed: int = 0,
              data: DataContext | None = None, overwrite: bool = False, progress: bool = True,
              model_name: str | None = None, cache_dir: Path | None = None, defaults_too: bool = False) -> RunDir:
    """Run ``suite_name`` on a loaded ``model`` (a checkpoint's, a ``--model-factory``'s or ``ebmbench.wrap``'s)."""
    suite_cls: type[Suite] = SUITES.get(suite_name)
    options = build_options(suite_cls.Options, settings)
    model_name = model_name or source.name
    _check_baseline_names(suite_cls, model_name, baselines or {})
    dev = distributed.init(resolve_device(device))  # under torchrun: join the group, take this rank's GPU
    progress = progress and distributed.is_main()
    require(model, *suite_cls.requires, who=f"suite {suite_name!r}")
    check_sizes(options, model.info.input_shape, f"suite {suite_name}")
    model = model.to(dev).eval()
    loaded = {name: load_checkpoint(path, dev) for name, path in (baselines or {}).items()}
    for name, other in loaded.items():
        check_compatible(model.info, name, other.model.info)
    suite = suite_cls(options)
    run = RunDir(out)
    run.check_target()  # fail fast: before the suite's checks, refuse a folder that is not a run directory
    ctx = SuiteContext(model=model, model_name=model_name,
                       dataset=model.info.dataset, run=run, device=dev, seed=seed,
                       data=data or DataContext(), baselines={n: c.model for n, c in loaded.items()},
                       cache_dir=cache_dir or default_cache_dir(), progress=progress, defaults_too=defaults_too)
    seed_everything(seed)
    plan = suite.prepare(ctx)
    identity = {"suite": suite_name, "suite_version": suite_cls.version, "options": _jsonable(options),
                "checkpoint_sha256": source.sha256, "seed": seed, "dataset": ctx.dataset,
                "baselines": {n: c.sha256 for n, c in loaded.items()}, **source.identity,
                **({"default_baselines_too": True} if defaults_too else {})}
    details = {**device_details(dev), **source.details, "model": ctx.model_name,
               "model_info": model.info.to_dict(), "model_config": model.config,
               "baseline_paths": {n: str(Path(p).resolve()) for n, p in (baselines or {}).items()}}
    if distributed.active():
        details["world_size"] = distributed.world_size()
    with shard_run_dir(run, identity, details, overwrite) as (ctx.run, resumed):
        ctx.done = ctx.run.done_units() if resumed else set()
        try:
            suite.run(ctx, plan)
            run_health(suite, ctx, plan)
        except BaseException as exc:  # Ctrl-C and SIGTERM (errors.Terminated) alike leave a resumable run
            ctx.run.finish(status="interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {exc}")
            raise
        ctx.run.finish()
    return run


@contextmanager
def shard_run_dir(run: RunDir, identity: dict[str, Any], details: dict[str, Any],
                  overwrite: bool) -> Iterator[tuple[RunDir, bool]]:
    """Lock and open ``run`` on rank 0; every other rank works in a private copy of it (a scratch directory
    deleted at the end), so all ranks run the same suite code and read the same state while only rank 0
    writes ``run``. Rank 0's refusal (a lock held elsewhere, a different run) reaches every rank."""
    if not distributed.active():
        with run.locked():
            yield run, run.start(identity, details, overwrite=overwrite)
        return
    with ExitStack() as stack:
        opened: tuple[bool, str | None] = (False, None)
        if distributed.is_main():
            try:
                stack.enter_context(run.locked())
                opened = (run.start(identity, details, overwrite=overwrite), None)
            except EbmbenchError as exc:
                opened = (False, str(exc))
        resumed, error = distributed.broadcast(opened)
        if error is not None:
            raise EbmbenchError(error)
        if distributed.is_main():
            distributed.barrier()  # the other ranks copy ``run`` before rank 0 writes to it again
            yield run, resumed
            return
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"ebmbench-rank{distributed.rank()}-")))
        shadow = RunDir(scratch / "run")
        shutil.copytree(run.path, shadow.path)
        distributed.barrier()
        yield shadow, shadow.start(identity, details)


def _jsonable(options: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}
