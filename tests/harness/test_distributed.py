"""Data-parallel suites: two gloo processes under torchrun give the records one process gives, and resume.

One torchrun launch (2 CPU processes) runs every built-in suite with tiny settings, then resumes a robustness
run that lost its last units; the same suites run here in one process are the reference.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ebmbench import distributed, seeds
from ebmbench.rundir import RunDir
from ebmbench.runner import run_suite

SUITES = {
    "energy": ("ebm", ["noise_n=100", "batch_size=64"]),
    "ood": ("ebm", ["sets=uniform,flip:digits", "n=70", "bootstrap=50", "batch_size=32", "default_baselines=",
                    "histograms=false", "scores=all"]),
    "quality": ("ebm", ["n=40", "steps=0,2", "batch_size=16", "kid_subsets=5", "isc_splits=4", "cache=false",
                        "noise_n=40"]),
    "robustness": ("ebm", ["n=24", "batch_size=8", "full_batch_size=8", "steps=2", "norms=linf,l2",
                           "linf_eps=0,0.1", "l2_eps=0.5", "adaptive=bpda+eot", "eot=1", "draws=2",
                           "purify_steps=2", "default_baselines=false"]),
}

SCRIPT = """
import json, sys, warnings
from pathlib import Path
from ebmbench import distributed
from ebmbench.runner import run_suite
from ebmbench.rundir import RunDir

warnings.simplefilter("ignore")
ckpt, out, suites = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
for name, settings in suites.items():
    run_suite(name, ckpt, out / name, settings, device="cpu", seed=3, progress=False)
# resume: drop the units after the first from a finished robustness run, as if it had been interrupted
if distributed.is_main():
    run = RunDir(out / "robustness")
    kept = [line for line in run.results_path.read_text().splitlines()
            if json.loads(line)["extra"]["unit"] in ("clean", "linf@0")]
    run.results_path.write_text("".join(k + "\\n" for k in kept))
distributed.barrier()
run_suite("robustness", ckpt, out / "robustness", suites["robustness"], device="cpu", seed=3, progress=False)
distributed.shutdown()
"""


def _close(a: object, b: object, path: str = "") -> None:
    """Equal, floats within 1e-6 (relative or absolute): float reductions may group differently."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) or (math.isnan(a) and math.isnan(b)), path
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def _records(run: RunDir) -> list[dict]:
    return [r.to_json() for r in run.records()]


@pytest.fixture(scope="module")
def two_process_runs(tiny_cond_ebm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    script = out / "run_suites.py"
    script.write_text(SCRIPT)
    settings = {name: opts for name, (_, opts) in SUITES.items()}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(script), str(tiny_cond_ebm_path), str(out / "runs"), json.dumps(settings)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out / "runs"


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_two_processes_give_the_records_of_one(suite: str, two_process_runs: Path, tiny_cond_ebm_path: Path,
                                               tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = run_suite(suite, tiny_cond_ebm_path, tmp_path / suite, SUITES[suite][1], device="cpu", seed=3,
                        progress=False)
    two = RunDir(two_process_runs / suite)
    _close(_records(two), _records(one), suite)
    manifest = two.manifest()
    assert manifest["status"] == "complete" and manifest["world_size"] == 2


def test_only_rank_zero_writes_the_run_directory(two_process_runs: Path) -> None:
    files = {p.relative_to(two_process_runs).as_posix() for p in two_process_runs.rglob("*") if p.is_file()}
    assert not [f for f in files if ".tmp" in f]
    assert {f"{s}/results.jsonl" for s in SUITES} <= files


def test_resumed_sharded_run_redoes_only_the_lost_units(two_process_runs: Path) -> None:
    manifest = RunDir(two_process_runs / "robustness").manifest()
    assert "resumed_at" in manifest and manifest["status"] == "complete"


def test_helpers_are_the_identity_in_one_process() -> None:
    assert not distributed.active() and distributed.world_size() == 1 and distributed.is_main()
    assert distributed.map_batches(3, lambda k: k * k) == [0, 1, 4]
    x = torch.arange(10.0)
    assert torch.equal(distributed.map_split(x, 3, lambda b: b * 2), x * 2)
    assert distributed.broadcast("a") == "a" and distributed.all_true(True) and not distributed.all_true(False)


def test_seeds_depend_on_every_part_and_repeat() -> None:
    assert seeds.derive(0, "attack", 1, 2) == seeds.derive(0, "attack", 1, 2)
    assert len({seeds.derive(0, "attack", r, b) for r in range(3) for b in range(3)}) == 9
    assert seeds.derive(1, "x") != seeds.derive("1", "x")
    assert 0 <= seeds.derive(123) < 2**63
    subprocess_value = subprocess.run([sys.executable, "-c", "from ebmbench import seeds; print(seeds.derive(5, 'q'))"],
                                      capture_output=True, text=True, check=True).stdout.strip()
    assert int(subprocess_value) == seeds.derive(5, "q")  # no per-process hash salt
