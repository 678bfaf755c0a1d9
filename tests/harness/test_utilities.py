"""The one-job utility modules: atomic writes, seed derivation, "did you mean", NaN and JSON numbers."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import pytest

from ebmbench.atomic import atomic_copy, atomic_path, atomic_write_text
from ebmbench.numbers import finite_or_none, is_nan, json_number, none_if_nan
from ebmbench.seeds import PRIME, keyed, mix
from ebmbench.suggest import closest, did_you_mean, edits


def test_atomic_writes_leave_the_old_file_or_the_new_one_and_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        assert tmp.parent == target.parent and tmp.suffix == ".json" and tmp != target
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    atomic_write_text(target, "new")
    atomic_copy(target, tmp_path / "copy.json")
    assert target.read_text() == (tmp_path / "copy.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["copy.json", "out.json", "sub"]


def test_seed_streams_are_stable_and_distinct() -> None:
    assert mix(3, 7) == 3 * 1_000_003 + 7 == 3 * PRIME + 7
    assert len({mix(s, k) for s in range(5) for k in range(1000)}) == 5000
    assert keyed("uniform", "test", 0) == zlib.crc32(b"uniform/test/0")
    assert keyed(0, "a") != keyed(0, "b")


def test_suggestions_prefer_few_edits_then_similarity() -> None:
    assert edits("kitten", "sitting") == 3
    assert closest("nn", ["n", "n_in", "bootstrap"]) == ["n"]
    assert closest("xyz", ["n", "batch_size"]) == []
    assert closest("fid", ["kid"], by_edits=False, cutoff=0.75) == []  # a near miss is not presumed
    assert did_you_mean("glwo", ["glow", "pixelcnn"]) == "; did you mean 'glow'?"
    assert did_you_mean("zzz", ["glow"]) == ""
    assert did_you_mean("ab", ["abc", "abd", "xyz"], n=2) == "; did you mean 'abc' or 'abd'?"


def test_nan_is_missing_and_json_numbers_survive() -> None:
    assert is_nan(math.nan) and not is_nan(None) and not is_nan(1.0)
    assert none_if_nan(math.nan) is None and none_if_nan(0.5) == 0.5 and none_if_nan("x") == "x"
    assert finite_or_none(math.inf) is None and finite_or_none(None) is None and finite_or_none(2.0) == 2.0
    text = json.dumps([json_number(v) for v in (1.5, math.nan, math.inf, -math.inf)], allow_nan=False)
    assert json.loads(text) == [1.5, "nan", "inf", "-inf"]
