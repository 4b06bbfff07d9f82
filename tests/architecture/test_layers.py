"""The layer contracts bite: an import pointing up or a service calling Slack fails the lint.

Each test copies the product packages to a scratch folder, plants one bad import and runs
import-linter there with the project's own contracts (pyproject.toml), as `make lint` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pulse", "bot", "connectors", "scoring", "digests", "storage")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}  # planted by the test\n")


def test_the_layout_as_committed_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("storage/db.py", "import scoring.engine", "Layers"),
        ("scoring/peers.py", "import connectors.base", "Layers"),
        ("pulse/services/lookup.py", "import pulse.jobs.pipeline", "Layers"),
        ("pulse/kernel/clock.py", "import storage.models", "Layers"),
        ("pulse/services/lookup.py", "import slack_sdk", "Only bot/ talks to Slack"),
        ("digests/views.py", "import sqlalchemy", "Builders are pure"),
    ],
)
def test_a_planted_bad_import_breaks_its_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    plant(tree / module, line)
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
    assert module.removesuffix(".py").replace("/", ".") in broken
