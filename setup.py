"""Package discovery for the three source folders that form one ``ebmbench`` namespace (see ARCHITECTURE.md).

pyproject.toml cannot map several folders onto one package with automatic discovery, so the mapping lives
here: every package below ``harness/``, ``suites/`` and ``reports/`` is found, so adding a suite subpackage
needs no packaging change.
"""

from setuptools import find_packages, setup

ROOTS = {"ebmbench": "harness", "ebmbench.suites": "suites", "ebmbench.reports": "reports"}


def _discover() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    for name, folder in ROOTS.items():
        packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
    return packages, dict(ROOTS)


packages, package_dir = _discover()
setup(packages=packages, package_dir=package_dir)
