"""Sweeps: checkpoints x suites x seeds x option grids, one ordinary resumable run directory per unit.

A plan is a TOML file::

    out = "runs/sweep"                # default: a folder named after the plan, beside it
    seeds = [0, 1, 2]
    device = "auto"

    [checkpoints]                     # name = path (relative paths are read from the plan's folder)
    ebm = "ckpt/ebm.safetensors"

    [suites.energy]                   # a suite with its defaults
    [suites.quality]
    set = ["n=1000"]                  # fixed options
    grid = { steps = ["20", "60"], protocol = ["noise", "buffer"] }   # every combination is a unit
    [suites.robustness]
    baselines = { madry = "ckpt/robust.safetensors" }
    seeds = [0]                       # overrides the plan's seeds for this suite

    [slurm]                           # submitit parameters for --executor slurm
    slurm_partition = "gpu"
    timeout_min = 240
    gpus_per_node = 1

Unit ``(model, suite, grid point, seed)`` writes ``OUT/MODEL/SUITE[/GRID]/seed-S``, the run directory
``ebmbench run`` would write. A unit whose directory holds a complete run of the same configuration is skipped,
so re-running a sweep resumes it (an interrupted unit resumes inside its run directory). A failed unit is
reported and the others go on. Units run in a local pool of ``--jobs`` processes, or through submitit
(``local``, ``debug`` or ``slurm``; ``pip install ebmbench[slurm]``). With ``tasks_per_node > 1`` a Slurm unit
runs data-parallel: submitit exports the torch.distributed environment and the suite shards its work.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ebmbench.errors import EbmbenchError
from ebmbench.rundir import safe_file_name

PLAN_KEYS = ("out", "seeds", "device", "checkpoints", "suites", "slurm")
SUITE_KEYS = ("set", "grid", "baselines", "seeds")
EXECUTORS = ("pool", "local", "debug", "slurm")


@dataclass(frozen=True)
class Unit:
    """One run: a suite on a checkpoint with a seed and settings, into its own run directory."""

    model: str
    checkpoint: str
    suite: str
    seed: int
    settings: tuple[str, ...]
    out: str
    device: str = "auto"
    baselines: dict[str, str] = field(default_factory=dict)
    threads: int | None = None

    @property
    def label(self) -> str:
        return Path(self.out).as_posix()


@dataclass
class Outcome:
    """What happened to a unit: ``done``, ``skipped`` (already complete) or ``failed`` (with the error)."""

    unit: str
    status: str
    seconds: float = 0.0
    error: str | None = None


@dataclass
class Plan:
    units: list[Unit]
    out: Path
    slurm: dict[str, Any]


# ---- reading a plan ----------------------------------------------------------------------------------------------

def load_plan(path: str | Path, out: str | Path | None = None) -> Plan:
    """Read and check a plan (suites, option keys, checkpoints) before any unit starts."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise EbmbenchError("sweep plans need Python 3.11 or newer (tomllib)") from None
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise EbmbenchError(f"no sweep plan at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EbmbenchError(f"{path} is not valid TOML: {exc}") from None
    _known(raw, PLAN_KEYS, f"{path}")
    base = path.parent
    out_dir = Path(out) if out is not None else base / raw.get("out", f"runs/{path.stem}")
    checkpoints = _checkpoints(raw.get("checkpoints"), base, path)
    suites = raw.get("suites")
    if not isinstance(suites, dict) or not suites:
        raise EbmbenchError(f"{path}: add at least one [suites.NAME] table (e.g. [suites.energy])")
    seeds = _seeds(raw.get("seeds", [0]), f"{path}: seeds")
    units = []
    for suite, table in suites.items():
        units += _suite_units(suite, table or {}, checkpoints, seeds, out_dir, base, str(raw.get("device", "auto")))
    slurm = raw.get("slurm", {})
    if not isinstance(slurm, dict):
        raise EbmbenchError(f"{path}: [slurm] must be a table of submitit parameters")
    return Plan(units, out_dir, slurm)


def _known(table: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    from ebmbench.suggest import did_you_mean

    for key in table:
        if key not in keys:
            hint = did_you_mean(key, keys, by_edits=False) or f" (known: {', '.join(keys)})"
            raise EbmbenchError(f"{where}: unknown key {key!r}{hint}")


def _checkpoints(table: Any, base: Path, path: Path) -> dict[str, Path]:
    if not isinstance(table, dict) or not table:
        raise EbmbenchError(f"{path}: add a [checkpoints] table, e.g. ebm = \"ckpt/ebm.safetensors\"")
    out = {}
    for name, value in table.items():
        ckpt = (base / str(value)).expanduser()
        if not ckpt.is_file():
            raise EbmbenchError(f"{path}: checkpoint {name!r} not found at {ckpt}")
        out[name] = ckpt
    return out


def _seeds(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(s, int) for s in value):
        raise EbmbenchError(f"{where} must be a list of integers, e.g. [0, 1, 2]")
    return value


def _suite_units(suite: str, table: dict[str, Any], checkpoints: dict[str, Path], seeds: list[int], out: Path,
                 base: Path, device: str) -> list[Unit]:
    from ebmbench.options import build_options
    from ebmbench.registries import SUITES

    cls = SUITES.get(suite)  # unknown suites: "did you mean"
    _known(table, SUITE_KEYS, f"[suites.{suite}]")
    fixed = [str(s) for s in table.get("set", [])]
    grid = table.get("grid", {})
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise EbmbenchError(f"[suites.{suite}] grid must map option names to non-empty lists of values")
    baselines = {n: str((base / str(p)).expanduser()) for n, p in table.get("baselines", {}).items()}
    seeds = _seeds(table["seeds"], f"[suites.{suite}] seeds") if "seeds" in table else seeds
    units = []
    for point in itertools.product(*[[(k, _text(v)) for v in values] for k, values in grid.items()]):
        settings = (*fixed, *(f"{k}={v}" for k, v in point))
        try:
            build_options(cls.Options, settings)
        except EbmbenchError as exc:
            raise EbmbenchError(f"[suites.{suite}] {exc}") from None
        where = safe_file_name(",".join(f"{k}={v}" for k, v in point), keep="-_.=,@")
        for model, ckpt in checkpoints.items():
            for seed in seeds:
                folder = out / model / suite / where / f"seed-{seed}" if where else out / model / suite / f"seed-{seed}"
                units.append(Unit(model, str(ckpt), suite, seed, settings, str(folder), device, baselines))
    return units


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


# ---- running one unit --------------------------------------------------------------------------------------------

def finished(unit: Unit) -> bool:
    """True when the unit's directory holds a complete run of exactly this configuration."""
    from ebmbench.checkpoint import file_sha256
    from ebmbench.options import build_options
    from ebmbench.registries import SUITES
    from ebmbench.rundir import RunDir

    run = RunDir(unit.out)
    if not run.exists():
        return False
    try:
        manifest = run.manifest()
    except EbmbenchError:
        return False
    identity = manifest.get("identity", {})
    options = asdict(build_options(SUITES.get(unit.suite).Options, unit.settings))
    wanted = {"suite": unit.suite, "seed": unit.seed, "checkpoint_sha256": file_sha256(unit.checkpoint),
              "options": json.loads(json.dumps(options)),
              "baselines": {n: file_sha256(p) for n, p in unit.baselines.items()}}
    return manifest.get("status") == "complete" and all(identity.get(k) == v for k, v in wanted.items())


def run_unit(unit: Unit) -> Outcome:
    """Run one unit (never raises: a failure is an outcome, so the other units go on)."""
    import warnings

    tic = time.perf_counter()
    try:
        _distributed_env()
        if finished(unit):
            return Outcome(unit.label, "skipped")
        import torch

        from ebmbench.runner import run_suite

        if unit.threads:
            torch.set_num_threads(unit.threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_suite(unit.suite, unit.checkpoint, unit.out, unit.settings, unit.baselines, unit.device, unit.seed,
                      progress=False, model_name=unit.model)
        return Outcome(unit.label, "done", time.perf_counter() - tic)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, EbmbenchError) else f"{type(exc).__name__}: {exc}"
        return Outcome(unit.label, "failed", time.perf_counter() - tic, message)
    finally:
        from ebmbench import distributed

        distributed.shutdown()


def _distributed_env() -> None:
    """Inside a submitit job of several tasks, export the torch.distributed variables (RANK, WORLD_SIZE, ...)."""
    if "SUBMITIT_FOLDER" not in os.environ and "SLURM_JOB_ID" not in os.environ:
        return
    try:
        import submitit
        from submitit.helpers import TorchDistributedEnvironment
    except ImportError:
        return
    try:
        if submitit.JobEnvironment().num_tasks > 1:
            TorchDistributedEnvironment().export()
    except RuntimeError:  # not inside a submitit job
        return


# ---- running a sweep ---------------------------------------------------------------------------------------------

def run_sweep(plan: Plan, jobs: int = 1, executor: str = "pool", echo: Callable[[str], None] = print,
              report: Callable[[list[str], Path], Any] | None = None) -> list[Outcome]:
    """Run every unit (skipping finished ones), then write ``sweep.json`` and, with ``report`` (e.g.
    ``ebmbench.reports.report.write_reports``), the aggregated report of the units that did not fail."""
    if executor not in EXECUTORS:
        raise EbmbenchError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise EbmbenchError("--jobs must be at least 1")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    units = [Unit(**{**asdict(u), "threads": u.threads or threads}) for u in plan.units]
    echo(f"sweep: {len(units)} units into {plan.out} ({executor}, {jobs} at a time)")
    runner = _pool if executor == "pool" else _submitit
    outcomes = runner(units, jobs, executor, plan, echo)
    _write_summary(plan, outcomes)
    usable = [u.out for u, o in zip(units, outcomes, strict=True) if o.status != "failed"]
    if usable and report is not None:
        report(usable, plan.out)
    return outcomes


def _report(echo: Callable[[str], None], outcome: Outcome) -> None:
    tail = f": {outcome.error}" if outcome.error else ""
    echo(f"  {outcome.status:<7} {outcome.unit} ({outcome.seconds:.1f} s){tail}")


def _pool(units: list[Unit], jobs: int, executor: str, plan: Plan, echo: Callable[[str], None]) -> list[Outcome]:
    """A local pool of ``jobs`` fresh processes (one per unit, so units never share state)."""
    if jobs == 1:
        outcomes = []
        for unit in units:
            outcomes.append(run_unit(unit))
            _report(echo, outcomes[-1])
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=1) as pool:
        futures = [pool.submit(run_unit, unit) for unit in units]
        outcomes = []
        for unit, future in zip(units, futures, strict=True):
            try:
                outcome = future.result()
            except Exception as exc:  # the worker itself died (e.g. killed for memory)
                outcome = Outcome(unit.label, "failed", error=f"worker died: {exc}")
            outcomes.append(outcome)
            _report(echo, outcome)
    return outcomes


def _submitit(units: list[Unit], jobs: int, executor: str, plan: Plan, echo: Callable[[str], None]) -> list[Outcome]:
    """Units as submitit jobs: on Slurm (an array of at most ``jobs`` at a time), or locally for testing."""
    try:
        import submitit
    except ImportError:
        raise EbmbenchError("--executor local/debug/slurm needs submitit: pip install 'ebmbench[slurm]'") from None
    folder = plan.out / ".submitit" / "%j"
    if executor == "slurm":
        ex: Any = submitit.AutoExecutor(folder=folder, cluster="slurm")
        params = {"slurm_array_parallelism": jobs, **plan.slurm}
    else:
        ex = (submitit.LocalExecutor if executor == "local" else submitit.DebugExecutor)(folder=folder)
        params = {"timeout_min": int(plan.slurm.get("timeout_min", 60))} if executor == "local" else {}
    try:
        ex.update_parameters(**params)
    except (TypeError, ValueError) as exc:
        raise EbmbenchError(f"[slurm] parameters: {exc}") from None
    waves = [units] if executor == "slurm" else [units[i:i + jobs] for i in range(0, len(units), jobs)]
    outcomes = []
    for wave in waves:
        submitted = ex.map_array(run_unit, wave)
        for unit, job in zip(wave, submitted, strict=True):
            try:
                outcome = job.result()
                outcome = outcome[0] if isinstance(outcome, list) else outcome  # several tasks: rank 0's
            except Exception as exc:  # the job itself failed (timeout, node failure, cancelled)
                outcome = Outcome(unit.label, "failed", error=f"job {job.job_id} failed: {str(exc)[-300:]}")
            outcomes.append(outcome)
            _report(echo, outcome)
    return outcomes


def _write_summary(plan: Plan, outcomes: list[Outcome]) -> None:
    from ebmbench.rundir import atomic_write_text

    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")}
    body = {"units": [asdict(o) for o in outcomes], "counts": counts}
    atomic_write_text(plan.out / "sweep.json", json.dumps(body, indent=2) + "\n")
