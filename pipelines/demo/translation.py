"""The demo's translation step: Apertium where installed, and the machine-vs-human report.

``babelshard demo`` (pipelines/demo/job.py) calls :func:`demo_translate_config` to add a
``translate`` section to its job when Apertium and a pair are installed (otherwise it
prints the returned note and goes on without), and :func:`quality_lines` after the run.
"""
from __future__ import annotations

import shutil
import subprocess
from typing import Iterable, Sequence

from babelshard.translate.apertium_engine import apertium_mode, debian_package
from babelshard.translate.config import ApertiumEngineConfig, BatchingConfig, FilterConfig, TranslateConfig

DEMO_LANGUAGES = ("es", "ca")


def installed_apertium_modes(command: str = "apertium") -> set[str]:
    if shutil.which(command) is None:
        return set()
    listed = subprocess.run([command, "-l"], capture_output=True, text=True, check=False)
    return {line.strip() for line in listed.stdout.splitlines() if line.strip()}


def demo_translate_config(languages: Sequence[str] = DEMO_LANGUAGES) -> tuple[TranslateConfig | None, str]:
    """(config translating into the installed languages or None, a note for the user)."""
    engine = ApertiumEngineConfig(kind="apertium")
    modes = installed_apertium_modes(engine.command)
    ready = [lang for lang in languages if apertium_mode(engine, "en", lang) in modes]
    missing = [debian_package(apertium_mode(engine, "en", lang)) for lang in languages if lang not in ready]
    install = ("apertium " if not modes else "") + " ".join(missing)
    note = f"translation: Apertium en->{', '.join(ready)}" if ready else "translation: skipped"
    if missing:
        note += f" (for the other demo languages: apt-get install {install})"
    if not ready:
        return None, note
    config = TranslateConfig(
        targets={lang: "apertium" for lang in ready},
        engines={"apertium": engine},
        # OpenMoji names already have human es names: translate anyway and keep the
        # human name in extra_captions, where quality_lines compares with it.
        when_human_exists="translate",
        # CLDR names are two or three words: too short for a fair length-ratio or
        # language check, so those only apply to longer ones.
        filters=FilterConfig(length_ratio_min_chars=20, lid_min_words=4),
        # Apertium starts a process per batch: few large batches keep the demo quick.
        batching=BatchingConfig(min_batch_size=512, max_batch_size=2048),
    )
    return config, note


def quality_lines(samples: Iterable, languages: Sequence[str] = DEMO_LANGUAGES) -> list[str]:
    """One line per language: chrF of the machine captions against the human ones."""
    from babelshard.translate.quality_report import chrf_against_human

    samples = list(samples)
    return [chrf_against_human(samples, lang).describe() for lang in languages]
