"""compare's paired tests on simulated pairs (benchmarks/bench_compare.py): under no change the gate rarely
cries wolf; under a real drop it fires. Slow: ``pytest -m slow``; the full figures come from the benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_compare.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_compare", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_false_alarms_under_no_change_and_power_under_a_drop() -> None:
    bench = _bench()
    common = {"n_in": 360, "n_out": 300, "sets": 2, "rules": (("tests", True),)}
    null = bench.simulate(100, 0.0, 0.0, seed=10, **common)
    assert null["tests, default tolerances"] <= 0.08, null  # 3.5% over 200 pairs in the benchmark
    power = bench.simulate(40, 0.06, 0.10, seed=11, **common)
    assert power["tests, default tolerances"] >= 0.8, power
