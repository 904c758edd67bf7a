"""Apertium engine: offline rule-based translation through the ``apertium`` command.

One process per batch; inputs go one per paragraph (a blank line between them), which
Apertium treats as a sentence boundary, so no rule reaches from one caption into the
next (``-f line`` does not guarantee that and drops a final period). ``-u``: unknown
words carry no ``*`` marks. A missing command or language pair is an error naming the
Debian package to install.
"""
from __future__ import annotations

import shutil
import subprocess
from typing import Sequence

from babelshard.translate.config import ApertiumEngineConfig
from babelshard.translate.engines import Translation
from babelshard.translate.langcodes import apertium_code
from babelshard.errors import UserError


class ApertiumMissingError(UserError, RuntimeError):
    """Apertium, or the data for a language pair, is not installed."""


def apertium_mode(config: ApertiumEngineConfig, source: str, target: str) -> str:
    return config.modes.get(f"{source}-{target}") or f"{apertium_code(source)}-{apertium_code(target)}"


def apertium_model_id(config: ApertiumEngineConfig, source: str, target: str) -> str:
    return config.model_id or f"apertium/{apertium_mode(config, source, target)}"


def debian_package(mode: str) -> str:
    """Debian names pair packages after the pair's repository, e.g. ``apertium-eng-spa``."""
    return "apertium-" + mode.split("_")[0]


def installed_modes(command: str) -> set[str]:
    if shutil.which(command) is None:
        raise ApertiumMissingError(
            f"`{command}` not found: install the Debian packages apertium and the pair data, "
            "e.g. `apt-get install apertium apertium-eng-spa apertium-eng-cat`"
        )
    listed = subprocess.run([command, "-l"], capture_output=True, text=True, check=False)
    return {line.strip() for line in listed.stdout.splitlines() if line.strip()}


class ApertiumEngine:
    kind = "apertium"

    def __init__(self, config: ApertiumEngineConfig):
        self.config = config
        self.modes = installed_modes(config.command)

    def model_id(self, source: str, target: str) -> str:
        return apertium_model_id(self.config, source, target)

    def check_pair(self, source: str, target: str) -> str:
        mode = apertium_mode(self.config, source, target)
        if mode not in self.modes:
            raise ApertiumMissingError(
                f"Apertium has no {mode} mode for {source}->{target}: install the Debian package "
                f"{debian_package(mode)} (`apt-get install {debian_package(mode)}`; `apt-cache search apertium` lists pairs)"
            )
        return mode

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]:
        mode = self.check_pair(source, target)
        lines = [" ".join(text.split()) for text in texts]  # no newline inside an input
        filled = [line for line in lines if line]
        outputs = iter(self._run(mode, filled) if filled else [])
        results = []
        for line in lines:
            output = next(outputs) if line else ""
            results.append(Translation(text=output, source_tokens=len(line.split()), target_tokens=len(output.split())))
        return results

    def _run(self, mode: str, lines: list[str]) -> list[str]:
        completed = subprocess.run(
            [self.config.command, "-u", mode],
            input="\n\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=self.config.timeout_s,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"apertium {mode} exited {completed.returncode}: {completed.stderr.strip()[-500:]}")
        outputs = [output.strip() for output in completed.stdout.rstrip("\n").split("\n\n")]
        if len(outputs) != len(lines):
            raise RuntimeError(f"apertium {mode} returned {len(outputs)} paragraphs for {len(lines)} inputs")
        return outputs
