"""The quickstart puts its JEM beside the EBM in the suites that compare models, keeping their default baselines."""

from pathlib import Path
from types import SimpleNamespace

import pytest

import ebmbench.quickstart as quickstart


def test_jem_goes_beside_the_ebm_where_suites_use_baselines(tmp_path: Path, tiny_cond_ebm_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    trained, calls = [], []

    def fake_cached_model(family, settings, cache, device, progress=True):
        trained.append((family, settings))
        return tiny_cond_ebm_path

    def fake_run_suite(name, ckpt, out, settings, baselines=None, **kw):
        calls.append((name, baselines, kw["defaults_too"]))
        return SimpleNamespace(records=list, path=out)

    monkeypatch.setattr(quickstart, "cached_model", fake_cached_model)
    monkeypatch.setattr(quickstart, "run_suite", fake_run_suite)
    monkeypatch.setattr("ebmbench.reports.report.write_reports", lambda dirs, out: {"html": "h", "md": "m"})
    quickstart.run_quickstart(tmp_path, tmp_path, "cpu", progress=False, suites=["energy", "ood"], echo=lambda s: None)
    assert [f for f, _ in trained] == ["ebm", "jem"] and trained[1][1] == {"dataset": "digits"}
    assert calls == [("energy", {}, False), ("ood", {"jem-digits": tiny_cond_ebm_path}, True)]
    trained.clear()
    quickstart.run_quickstart(tmp_path, tmp_path, "cpu", progress=False, suites=["energy"], echo=lambda s: None)
    assert [f for f, _ in trained] == ["ebm"]  # no suite compares models: no JEM is trained
