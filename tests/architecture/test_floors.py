"""The floor plan is checked, not just written down: import-linter on the installed layout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = Path(__file__).with_name("contracts.toml")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def installed_layout(target: Path) -> Path:
    """Copy the source folders into the package layout pyproject's package-dir maps them to
    (import-linter walks a package's own directory, so the editable install's mapping is not seen)."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package, folder in sorted(mapping.items(), key=lambda item: item[0].count(".")):
        shutil.copytree(REPO / folder, target / package.replace(".", "/"), ignore=ignore, dirs_exist_ok=True)
    return target


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.exists():
        pytest.skip("import-linter is not installed (pip install import-linter)")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(CONTRACTS)], cwd=root, env=env, capture_output=True, text=True
    )


def test_every_contract_is_kept(tmp_path):
    result = lint_imports(installed_layout(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_backwards_import_breaks_the_floors(tmp_path):
    root = installed_layout(tmp_path)
    writer = root / "babelshard" / "shards" / "writer.py"
    writer.write_text(writer.read_text() + "\nfrom babelshard.pipelines.jobs.config import JobConfig  # noqa\n")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "babelshard.shards.writer -> babelshard.pipelines.jobs.config" in result.stdout


def test_every_core_module_is_on_the_core_floor():
    layers = tomllib.loads(CONTRACTS.read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    core = {name.strip() for name in layers[-1].split(":")}
    modules = {f"babelshard.{path.stem}" for path in (REPO / "babelshard").glob("*.py") if path.stem != "__init__"}
    packages = {f"babelshard.{path.name}" for path in (REPO / "babelshard").iterdir() if (path / "__init__.py").exists()}
    assert core == modules
    assert packages == {"babelshard.cli"}, "a new package in babelshard/ needs its own floor in contracts.toml"
