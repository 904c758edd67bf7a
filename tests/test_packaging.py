"""The wheel maps every folder into the babelshard namespace: build it, install it into a
fresh venv (dependencies borrowed from this environment) and import every subpackage."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["babelshard", "babelshard.pipelines", "babelshard.shards", "babelshard.translate",
               "babelshard.codeswitch", "babelshard.vocab", "babelshard.train"]


@pytest.mark.slow
def test_built_wheel_installs_and_imports_every_subpackage(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("babelshard-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies come from this environment's site-packages (its .pth files, including the
    # editable babelshard finder, are not processed from a path added this way).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    code = "import importlib; " + "; ".join(f"print(importlib.import_module('{name}').__file__)" for name in SUBPACKAGES)
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    files = result.stdout.split()
    assert len(files) == len(SUBPACKAGES)
    assert all(f.startswith(str(venv)) for f in files), files
    cli = subprocess.run([str(venv / "bin" / "babelshard"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 0 and "inspect" in cli.stdout
