"""The README's Python example runs as written (in a scratch folder) and writes its run directory."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_example() -> str:
    text = README.read_text()
    section = text[text.index("### The Python API"):]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code = _python_example()
    assert "ebmbench.wrap(" in code and "ebmbench.evaluate(" in code
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)
    records, run_dir = namespace["records"], namespace["run_dir"]
    assert (tmp_path / run_dir / "manifest.json").is_file() and len(records) > 0
    assert set(records["model"]) == {"my-ebm"}
    assert "energy_mean" in capsys.readouterr().out
