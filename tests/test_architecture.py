"""The import rule of ARCHITECTURE.md, checked on the source: harness never imports suites or reports outside
its CLI modules; suites and reports never import each other; one suite never imports another; specs and
report metadata stay torch-free."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"harness": "ebmbench", "suites": "ebmbench.suites", "reports": "ebmbench.reports"}
CLI_MODULES = {"harness/cli.py", "harness/quickstart.py"}


def _module_name(path: Path) -> str:
    folder, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [PACKAGES[folder], *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str | None = None) -> list[str]:
    """Absolute names of every module ``path`` (module ``module``) imports, relative imports resolved, at any
    depth."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return found


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_harness_imports_suites_and_reports_only_in_its_cli_modules() -> None:
    bad = [f"{p.relative_to(ROOT)} imports {name}" for p in sources("harness")
           if str(p.relative_to(ROOT)) not in CLI_MODULES for name in imports(p)
           if _in(name, "ebmbench.suites") or _in(name, "ebmbench.reports")]
    assert not bad, bad


def test_suites_and_reports_never_import_each_other() -> None:
    bad = [f"{p.relative_to(ROOT)} imports {name}" for p in sources("suites") for name in imports(p)
           if _in(name, "ebmbench.reports")]
    bad += [f"{p.relative_to(ROOT)} imports {name}" for p in sources("reports") for name in imports(p)
            if _in(name, "ebmbench.suites")]
    assert not bad, bad


def test_a_suite_never_imports_another_suite() -> None:
    bad = []
    for path in sources("suites"):
        parts = path.relative_to(ROOT / "suites").parts
        if len(parts) < 2:
            continue
        own = f"ebmbench.suites.{parts[0]}"
        bad += [f"{path.relative_to(ROOT)} imports {n}" for n in imports(path)
                if _in(n, "ebmbench.suites") and n != "ebmbench.suites" and not _in(n, own)]
    assert not bad, bad


@pytest.mark.parametrize("path", [ROOT / "harness/spec.py", *sorted((ROOT / "suites").glob("*/spec.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_specs_import_no_torch(path: Path) -> None:
    heavy = [n for n in imports(path) if n.split(".")[0] in {"torch", "torchvision", "numpy", "pandas"}]
    assert not heavy, heavy


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The rule can fail: a relative import reaching another package is resolved and caught."""
    fake = tmp_path / "probe.py"
    fake.write_text("from ...reports import meta\nfrom ..quality import spec\nimport torch\n", encoding="utf-8")
    found = imports(fake, "ebmbench.suites.ood.probe")
    assert {"ebmbench.reports.meta", "ebmbench.suites.quality.spec", "torch"} <= set(found)
