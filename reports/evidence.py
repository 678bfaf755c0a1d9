"""The per-sample evidence behind a compared row, and the significance test it allows.

``compare`` reads only ``manifest.json`` and ``results.jsonl``, plus, for the tests, the per-sample files the
records name:

- OOD detection (``extra.scores_file``: one score per image, in- and out-of-distribution): AUROC, AUPR and
  FPR@95 are resampled on both sides with the same bootstrap draws where the images are the same (the records'
  ``images_in``/``images_out`` fingerprints agree), independently where they are not;
- per-example correctness (``extra.per_example_file`` and ``per_example_key``: (draws, n) booleans): an exact
  McNemar test on the same examples with one draw each, a paired t-test on per-example means over draws of a
  stochastic defense, a Welch test when the examples differ;
- several seeds on both sides, whatever the metric (FID, IS, ...): a Welch test over seeds.

Anything else (one seed and no per-sample file, a file that is missing or unreadable) gets no test and is judged
by the interval rule; the reason is kept for the verdict.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ebmbench.reports.paired import TestResult, bootstrap_counts, bootstrap_test, mcnemar_exact, paired_t, welch

BOOTSTRAP = 1000


class NoEvidence(Exception):
    """Why a row gets no test (its message goes into the verdict)."""


@dataclass
class Evidence:
    """Reads per-sample files once and tests compared rows. ``index`` finds a run's OOD per-set records (the
    average over sets is resampled from them): (run, model, score, eval_set) -> the record's extra."""

    index: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    replicates: int = BOOTSTRAP
    _files: dict[tuple[str, str], Any] = field(default_factory=dict)
    _reps: dict[tuple, dict[str, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, *frames: Any, replicates: int = BOOTSTRAP) -> Evidence:
        index = {}
        for frame in frames:
            for row in frame.to_dict("records"):
                extra = row["extra"] if isinstance(row["extra"], dict) else {}
                if "scores_file" in extra:
                    index[(row["run"], row["model"], extra.get("score"), row["eval_set"])] = extra
        return cls(index, replicates)

    def test(self, base_rows: list[dict[str, Any]], cand_rows: list[dict[str, Any]], higher_is_better: bool
             ) -> TestResult:
        """The one-sided test of "the candidate is worse" for one compared row; NoEvidence when none applies."""
        if len(base_rows) > 1 and len(cand_rows) > 1:
            result = welch([r["value"] for r in base_rows], [r["value"] for r in cand_rows], higher_is_better)
            if result is None:
                raise NoEvidence("no spread across seeds")
            return result
        if len(base_rows) != 1 or len(cand_rows) != 1:
            raise NoEvidence(f"{len(base_rows)} vs {len(cand_rows)} seeds: a test over seeds needs two or more "
                             "on each side")
        base, cand = base_rows[0], cand_rows[0]
        resample = _resampler(str(base["suite"]))
        if resample is not None and _extra(base).get("score") is not None and (
                "scores_file" in _extra(base) or base["eval_set"] == "average"):
            return self._ood(base, cand, higher_is_better, resample)
        if "per_example_file" in _extra(base) and "per_example_file" in _extra(cand):
            return self._correctness(base, cand, higher_is_better)
        raise NoEvidence("no per-sample file")

    # ---- OOD detection: joint bootstrap of the per-image scores ---------------------------------------------
    def _ood(self, base: dict[str, Any], cand: dict[str, Any], hib: bool, resample: Any) -> TestResult:
        sets_b, sets_c = self._sets(base), self._sets(cand)
        if [s for s, _ in sets_b] != [s for s, _ in sets_c]:
            raise NoEvidence("the runs scored different OOD sets")
        metric = base["metric"]
        reps_b, reps_c, paired = [], [], False
        for (eval_set, extra_b), (_, extra_c) in zip(sets_b, sets_c, strict=True):
            rb, rc, same = self._set_replicates(base, cand, eval_set, extra_b, extra_c, resample)
            if metric not in rb:
                raise NoEvidence(f"the per-sample scores do not give {metric}")
            reps_b.append(rb[metric])
            reps_c.append(rc[metric])
            paired = paired or same
        return bootstrap_test((base["value"], cand["value"]), np.mean(reps_b, axis=0), np.mean(reps_c, axis=0),
                              hib, paired)

    def _sets(self, row: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(set, record extra) of every OOD set behind the row: itself, or each set of an average."""
        extra = _extra(row)
        names = extra.get("sets") if row["eval_set"] == "average" else [row["eval_set"]]
        if not isinstance(names, list) or not names:
            raise NoEvidence("the average does not list its sets")
        out = []
        for name in names:
            found = extra if name == row["eval_set"] else self.index.get((row["run"], row["model"],
                                                                           extra.get("score"), name))
            if not found or "scores_file" not in found:
                raise NoEvidence(f"no per-sample scores for {name}")
            out.append((name, found))
        return out

    def _set_replicates(self, base: dict[str, Any], cand: dict[str, Any], eval_set: str, extra_b: dict[str, Any],
                        extra_c: dict[str, Any], weighted_metrics: Any
                        ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], bool]:
        """Bootstrap replicates of the suite's metrics on both sides for one set, by the suite's own resampler
        (cached: the metrics of a row, and the averages, reuse them)."""
        key = (base["run"], cand["run"], base["model"], cand["model"], extra_b.get("score"), eval_set)
        if key in self._reps:
            return self._reps[key]
        in_b, out_b = self._scores(base["run"], extra_b, base["model"])
        in_c, out_c = self._scores(cand["run"], extra_c, cand["model"])
        same_in = _same(extra_b, extra_c, "images_in", len(in_b), len(in_c))
        same_out = _same(extra_b, extra_c, "images_out", len(out_b), len(out_c))
        wb_in, wc_in = self._draws(("in", len(in_b)), len(in_b), len(in_c), same_in)
        wb_out, wc_out = self._draws(("out", eval_set, len(out_b)), len(out_b), len(out_c), same_out)
        result = (weighted_metrics(in_b, out_b, wb_in, wb_out), weighted_metrics(in_c, out_c, wc_in, wc_out),
                  same_in or same_out)
        self._reps[key] = result
        return result

    def _draws(self, key: tuple, n_base: int, n_cand: int, same: bool) -> tuple[np.ndarray, np.ndarray]:
        """The baseline's multiplicities (seeded by the stratum, so every model and set shares the draws of
        the same in-distribution images) and the candidate's: the same draws for the same images."""
        seed = zlib.crc32(repr(key).encode())
        base = bootstrap_counts(np.random.default_rng([seed, 0]), n_base, self.replicates)
        return base, base if same else bootstrap_counts(np.random.default_rng([seed, 1]), n_cand, self.replicates)

    def _scores(self, run: str, extra: dict[str, Any], model: str) -> tuple[np.ndarray, np.ndarray]:
        frame = self._file(run, str(extra["scores_file"]), _read_csv)
        column = f"{model}/{extra.get('score')}"
        if column not in frame.columns or "in_distribution" not in frame.columns:
            raise NoEvidence(f"{extra['scores_file']} has no column {column}")
        is_in = frame["in_distribution"].to_numpy() == 1
        values = frame[column].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise NoEvidence(f"{extra['scores_file']} has non-finite scores in {column}")
        return values[is_in], values[~is_in]

    # ---- per-example correctness ----------------------------------------------------------------------------
    def _correctness(self, base: dict[str, Any], cand: dict[str, Any], hib: bool) -> TestResult:
        correct_b, correct_c = self._correct(base), self._correct(cand)
        same = _same(_extra(base), _extra(cand), "images", correct_b.shape[1], correct_c.shape[1])
        mean_b, mean_c = correct_b.mean(axis=0), correct_c.mean(axis=0)
        if not hib:  # an error rate: the test is on the same per-example outcomes, with the direction flipped
            mean_b, mean_c = 1 - mean_b, 1 - mean_c
        if same and correct_b.shape[0] == 1 and correct_c.shape[0] == 1:
            return mcnemar_exact(mean_b.astype(bool), mean_c.astype(bool))
        if same:
            result = paired_t(mean_b, mean_c, True)
            if result is not None:
                return TestResult(result.p, result.method + ", per-example mean over draws")
        result = welch(mean_b, mean_c, True, what="examples, different images")
        if result is None:
            raise NoEvidence("per-example outcomes without spread")
        return result

    def _correct(self, row: dict[str, Any]) -> np.ndarray:
        extra = _extra(row)
        arrays = self._file(row["run"], str(extra["per_example_file"]), _read_npz)
        key = str(extra.get("per_example_key"))
        if key not in arrays:
            raise NoEvidence(f"{extra['per_example_file']} has no entry {key}")
        correct = np.asarray(arrays[key]).astype(bool)
        return correct.reshape(1, -1) if correct.ndim == 1 else correct

    def _file(self, run: str, name: str, read: Any) -> Any:
        """A per-sample file inside the run directory (never outside it), read once."""
        if (run, name) not in self._files:
            root = Path(run).resolve()
            path = (root / name).resolve()
            if not path.is_relative_to(root):
                raise NoEvidence(f"{name} lies outside the run directory")
            try:
                self._files[(run, name)] = read(path)
            except Exception as exc:  # any unreadable file means no test, never a crash of the gate
                self._files[(run, name)] = NoEvidence(f"{name} cannot be read ({type(exc).__name__})")
        found = self._files[(run, name)]
        if isinstance(found, NoEvidence):
            raise found
        return found


def _resampler(suite: str) -> Any:
    """The suite's per-sample resampler its spec names (None when it names none)."""
    from ebmbench.registries import spec_function, suite_spec

    spec = suite_spec(suite)
    path = getattr(spec, "resample", "") if spec is not None else ""
    return spec_function(suite, path) if path else None


def _read_csv(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    return row["extra"] if isinstance(row.get("extra"), dict) else {}


def _same(extra_b: dict[str, Any], extra_c: dict[str, Any], key: str, n_b: int, n_c: int) -> bool:
    """Whether both sides scored the very same images in the same order (their fingerprints agree)."""
    return n_b == n_c and extra_b.get(key) is not None and extra_b.get(key) == extra_c.get(key)
