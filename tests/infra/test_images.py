"""The Dockerfiles cannot be built here: check that everything they copy exists and is in
the build context, that they install the package the way pyproject.toml lays it out, that
their pip install lines resolve against the configured index, and the Flex Template's
metadata and entry point."""
from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "infra" / "worker" / "Dockerfile", ROOT / "infra" / "dataflow" / "Dockerfile.launcher"]
INSTALL_ROOT = "/opt/babelshard"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments left out."""
    lines = [line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def copied_sources(dockerfile: Path) -> list[str]:
    sources = []
    for name, arguments in instructions(dockerfile):
        words = shlex.split(arguments)
        if name == "COPY" and not any(word.startswith("--from") for word in words):
            sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a RUN line, split at `&&`, `;`, `|` and if/then/fi outside quotes."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in {"&&", ";", "||", "|", "if", "then", "fi"}:
            commands, current = commands + [current] if current else commands, []
        else:
            current.append(token)
    return commands + [current] if current else commands


def pip_requirements(dockerfile: Path) -> list[str]:
    """Requirements of every `pip install` the image runs, the package folder as the repository root."""
    requirements = []
    for name, arguments in instructions(dockerfile):
        for words in shell_commands(arguments) if name == "RUN" else []:
            if words[:2] != ["pip", "install"]:
                continue
            skip_next = False
            for word in words[2:]:
                if skip_next or word == "--index-url":  # another index of the same torch releases
                    skip_next = not skip_next
                    continue
                if not word.startswith("-"):
                    requirements.append(word.replace(INSTALL_ROOT, str(ROOT), 1))
    return requirements


def ignored(path: str) -> bool:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return any(fnmatch.fnmatch(part, pattern.removeprefix("**/")) for pattern in patterns for part in Path(path).parts)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_everything_copied_exists_in_the_build_context(dockerfile):
    sources = copied_sources(dockerfile)
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
        assert not ignored(source), f"{dockerfile.name} copies {source}, which .dockerignore leaves out"


def test_the_worker_image_copies_every_package_folder_pyproject_maps():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    copied = set(copied_sources(DOCKERFILES[0]))
    assert folders | {"pyproject.toml", project["project"]["readme"]} <= copied
    assert any(requirement == f"{ROOT}[gcs,s3]" for requirement in pip_requirements(DOCKERFILES[0]))


def test_the_worker_image_bakes_in_the_dictionaries_the_tests_use():
    def packages(path: Path) -> set[str]:
        return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}

    baked = packages(ROOT / "infra" / "worker" / "debian-packages.txt")
    assert {"apertium", "dict-freedict-eng-fra"} <= baked
    assert baked <= packages(ROOT / "infra" / "debian-packages.txt")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_pip_install_lines_resolve(tmp_path):
    requirements = sorted({req for dockerfile in DOCKERFILES for req in pip_requirements(dockerfile)})
    assert any(req.startswith("torch") for req in requirements) and any("nvidia-cudnn" in req for req in requirements)
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
               str(report), *requirements]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr[-3000:]}"
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                 for item in json.loads(report.read_text())["install"]}
    assert {"babelshard", "gcsfs", "s3fs", "torch", "ctranslate2", "nvidia-cudnn-cu12"} <= set(installed)
    assert installed["apache-beam"].startswith("2.77.")  # the same Beam as the SDK image


def load_flex_template():
    spec = importlib.util.spec_from_file_location("flex_template", ROOT / "infra" / "dataflow" / "flex_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flex_template_metadata_and_entry_point():
    metadata = json.loads((ROOT / "infra" / "dataflow" / "metadata.json").read_text())
    (parameter,) = metadata["parameters"]
    assert parameter["name"] == "config"
    pattern = re.compile(parameter["regexes"][0])
    assert pattern.match("gs://bucket/configs/cc12m.yaml") and not pattern.match("configs/cc12m.yaml")
    arguments = load_flex_template().build_arguments
    assert arguments(["--config=gs://b/c.yaml", "--project=p", "--region=r"]) == [
        "build", "gs://b/c.yaml", "--runner=DataflowRunner", "--project=p", "--region=r"]
    assert arguments(["--runner", "DataflowRunner", "--config", "gs://b/c.yaml"]) == ["build", "gs://b/c.yaml", "--runner", "DataflowRunner"]
    with pytest.raises(SystemExit, match="config"):
        arguments(["--project=p"])


def test_the_worker_image_bakes_lid_where_workers_look_for_it(monkeypatch):
    """Workers find lid.176.ftz in BABELSHARD_CACHE and never run `pip download` at start."""
    from babelshard.langid import default_lid_path

    steps = instructions(DOCKERFILES[0])
    env = " ".join(arguments for name, arguments in steps if name == "ENV")
    cache = re.search(r"BABELSHARD_CACHE=(\S+)", env).group(1)
    monkeypatch.setenv("BABELSHARD_CACHE", cache)
    baked = [arguments for name, arguments in steps if name == "RUN" and "ensure_lid_model()" in arguments]
    assert baked and str(default_lid_path()) in baked[0]  # fetched at build time, its checksum logged
