"""``ebmbench report RUNS --to mlflow``: each run directory becomes one MLflow run, with its records as metrics,
its manifest (options, seed, versions, checkpoint hash) as parameters and tags, and its files as artifacts.

The default tracking URI is a local ``./mlruns`` file store (MLflow 3 keeps file stores in maintenance mode;
``--tracking-uri sqlite:///mlflow.db`` or a server URL work as well). A run directory already logged to the
same store (same path and start time) is skipped, so logging twice never duplicates. Needs the optional extra
``ebmbench[mlflow]``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

from ebmbench.errors import EbmbenchError
from ebmbench.reports.load import RunSet

EXPERIMENT = "ebmbench"
KEY_TAG = "ebmbench.run_key"
QUALIFIERS: tuple[str, ...] = ("score", "threat_model", "defense", "norm", "epsilon", "steps", "extractor")
MAX_PARAM = 500  # characters of a parameter value MLflow stores everywhere
BATCH, PARAM_BATCH = 900, 90  # entries per log_batch call (MLflow takes up to 1000 metrics, 100 parameters)


def log_to_mlflow(runs: RunSet, tracking_uri: str | None = None, experiment: str = EXPERIMENT) -> list[str]:
    """Log every run of ``runs``; returns one line per run saying what was done."""
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    lines = []
    for label, manifest in runs.manifests.items():
        records = runs.frame[runs.frame["run"] == label]
        lines.append(_log_run(client, exp_id, Path(label), manifest, records.to_dict("records")))
    return lines


def _client(tracking_uri: str | None) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise EbmbenchError("--to mlflow needs MLflow: pip install 'ebmbench[mlflow]'") from None
    uri = tracking_uri or Path("mlruns").resolve().as_uri()
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps the file store in maintenance mode and refuses it unless told; ./mlruns is what the
        # user asked for (or our default), so say yes for this process
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=uri)


def _log_run(client: Any, exp_id: str, path: Path, manifest: dict[str, Any], records: list[dict[str, Any]]) -> str:
    from mlflow.entities import Metric, Param

    key = hashlib.sha256(f"{path.resolve()}|{manifest.get('started_at', '')}".encode()).hexdigest()[:32]
    existing = client.search_runs([exp_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'", max_results=1)
    if existing:
        return f"{path}: already logged as MLflow run {existing[0].info.run_id}; skipped"
    identity = manifest.get("identity") if isinstance(manifest.get("identity"), dict) else {}
    suite = str(identity.get("suite", "?"))
    tags = {KEY_TAG: key, "ebmbench.run_dir": str(path), "ebmbench.suite": suite,
            "ebmbench.model": str(manifest.get("model", "")), "ebmbench.status": str(manifest.get("status", "")),
            "mlflow.source.git.commit": str(manifest.get("git_revision", ""))}
    run = client.create_run(exp_id, run_name=f"{suite}: {manifest.get('model', '')}",
                            tags={k: v for k, v in tags.items() if v})
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    params = [Param(k, v) for k, v in _params(manifest).items()]
    metrics = [Metric(k, v, now, 0) for k, v in _metrics(records).items()]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH])
    for start in range(0, len(params), PARAM_BATCH):
        client.log_batch(run_id, params=params[start:start + PARAM_BATCH])
    artifacts = _artifacts(path)
    for file in artifacts:
        parent = file.relative_to(path).parent.as_posix()
        client.log_artifact(run_id, str(file), artifact_path=None if parent == "." else parent)
    client.log_text(run_id, json.dumps(records, default=str, indent=1), "ebmbench_records.json")
    client.set_terminated(run_id, "FINISHED" if manifest.get("status") == "complete" else "FAILED")
    return (f"{path}: logged as MLflow run {run_id} ({len(metrics)} metrics, {len(_params(manifest))} "
            f"parameters, {len(artifacts)} files)")


def _params(manifest: dict[str, Any]) -> dict[str, str]:
    """Options (``option.NAME``), seed, dataset, model, checkpoint hash and versions, as MLflow parameters."""
    identity = manifest.get("identity") if isinstance(manifest.get("identity"), dict) else {}
    out: dict[str, Any] = {}
    options = identity.get("options") if isinstance(identity.get("options"), dict) else {}
    out.update({f"option.{k}": v for k, v in options.items()})
    for k, v in identity.items():
        if k != "options" and not isinstance(v, dict):
            out[k] = v
    for k in ("model", "checkpoint_sha256", "ebmbench_version", "torch_version", "git_revision", "device", "python"):
        if manifest.get(k) is not None:
            out[k] = manifest[k]
    return {_key(k): _text(v) for k, v in out.items()}


def _metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    """One metric per record, named model.metric.eval_set.qualifiers (no slashes: a file store makes folders of
    them), with its interval as two more (``.ci_low``, ``.ci_high``)."""
    out: dict[str, float] = {}
    for rec in records:
        extra = rec["extra"] if isinstance(rec.get("extra"), dict) else {}
        parts = [rec["model"], rec["metric"], rec["eval_set"],
                 *(f"{q}_{extra[q]}" for q in QUALIFIERS if extra.get(q) is not None)]
        name = _key(".".join(str(p).replace("/", "_").replace(".", "_") for p in parts))
        for suffix, value in (("", rec["value"]), (".ci_low", rec.get("ci_low")), (".ci_high", rec.get("ci_high"))):
            if isinstance(value, (int, float)) and math.isfinite(float(value)):
                out[name + suffix] = float(value)
    return out


def _artifacts(path: Path) -> list[Path]:
    """The run directory's regular files (no links, nothing hidden)."""
    root = path.resolve()
    return [p for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
            and p.resolve().is_relative_to(root)]


def _key(text: str) -> str:
    """A name MLflow accepts: letters, digits and _ - . space / only."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", text)[:250]


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text[:MAX_PARAM]
