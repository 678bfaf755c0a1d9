"""The main job on the embedded data: train (or reuse) a small conditional EBM on the bundled digits and run
every registered suite whose needs it meets, each into its own run directory; suites that compare models
(ood, robustness) also get a JEM (the second EBM family) beside their default baselines. A second run reuses
the cached models and the finished suite units."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ebmbench.devices import resolve_device
from ebmbench.errors import EbmbenchError
from ebmbench.registries import SUITES
from ebmbench.runner import default_cache_dir, run_suite
from ebmbench.summary import health_lines, summary_table
from ebmbench.zoo import cached_model

QUICKSTART_EBM = {"dataset": "digits", "conditional": True, "ce_coeff": 0.1, "ema": 0.99}  # the digits recipe
MODEL_NAME = "ebm-digits"
QUICKSTART_JEM = {"dataset": "digits"}
JEM_NAME = "jem-digits"  # the second EBM family, beside the EBM wherever a suite compares models
SHOWN = ("purification_gain",)  # printed beside each suite's headline: the robustness control's gain


def run_quickstart(out: Path, cache_dir: Path | None = None, device: str = "auto", progress: bool = True,
                   iterations: int | None = None, suites: list[str] | None = None,
                   echo: Callable[[str], None] = print, seed: int = 0) -> list[Path]:
    """Run the quickstart; returns the run directories written."""
    from ebmbench.checkpoint import load_checkpoint

    names = SUITES.names() if suites is None else suites
    if not names:
        raise EbmbenchError("--suites names no suite; give names from `ebmbench list` or leave it out for all")
    classes = {name: SUITES.get(name) for name in names}  # unknown names fail here, before any training
    cache = cache_dir or default_cache_dir()
    settings = dict(QUICKSTART_EBM)
    if iterations is not None:
        settings["iterations"] = iterations
    echo("[1] EBM on the bundled digits (trained on first use, then cached)")
    ckpt = cached_model("ebm", settings, cache, resolve_device(device), progress=progress)
    echo(f"    checkpoint: {ckpt}")
    model = load_checkpoint(ckpt).model
    jem = None
    if any(suite.uses_baselines for suite in classes.values()):
        echo("[1b] JEM on the bundled digits (the second EBM family; trained on first use, then cached)")
        jem = cached_model("jem", dict(QUICKSTART_JEM), cache, resolve_device(device), progress=progress)
        echo(f"    checkpoint: {jem}")
    runs = []
    for i, (name, suite) in enumerate(classes.items(), start=2):
        if not all(model.has(c) for c in suite.requires):
            echo(f"[{i}] {name}: skipped (needs {', '.join(c.value for c in suite.requires)})")
            continue
        echo(f"[{i}] suite {name}: {suite.description}")
        beside = {JEM_NAME: jem} if jem is not None and suite.uses_baselines else {}
        run = run_suite(name, ckpt, out / name, getattr(suite, "quickstart", ()), beside, device=device,
                        progress=progress, model_name=MODEL_NAME, cache_dir=cache, defaults_too=bool(beside),
                        seed=seed)
        records = run.records()
        echo(summary_table([r for r in records if r.metric in (suite.headline, *SHOWN)] or records))
        for line in health_lines(records):
            echo(f"    {line}")
        runs.append(run.path)
    from ebmbench.reports.report import write_reports

    paths = write_reports([out], out)
    echo("(headline metric only; every metric is in the reports and each run's results.jsonl)")
    echo(f"\nrun directories: {', '.join(str(p) for p in runs)}")
    echo(f"reports: {paths['html']} and {paths['md']}")
    return runs
