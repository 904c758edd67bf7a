"""The drop-reason catalogue: complete, documented, its page up to date, and it names every
reason a real build counts."""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
from pathlib import Path

import pytest

from babelshard.pipelines.jobs.reasons import CATALOGUE, drop_reasons_markdown, stage_reasons, uncatalogued
from babelshard.stats import Reason
from babelshard.testing import toy_translation

DOC = Path(__file__).resolve().parents[3] / "docs" / "drop-reasons.md"


def test_the_generated_page_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == drop_reasons_markdown(), (
        "docs/drop-reasons.md is stale: python -m babelshard.pipelines.jobs.reasons > docs/drop-reasons.md"
    )


def reason_enums() -> set[type]:
    """Every Reason enum with members in babelshard's stage packages (importing them first)."""
    for package in ("pipelines", "translate", "codeswitch", "vocab"):
        module = importlib.import_module(f"babelshard.{package}")
        for info in pkgutil.walk_packages(module.__path__, f"babelshard.{package}."):
            if ".demo" not in info.name and not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    found, todo = set(), list(Reason.__subclasses__())
    while todo:
        enum = todo.pop()
        todo.extend(enum.__subclasses__())
        if len(enum):
            found.add(enum)
    return found


def test_every_reason_enum_is_catalogued_and_every_reason_described():
    catalogued_enums = {type(reason) for stage in CATALOGUE for reason in stage_reasons(stage)}
    assert reason_enums() <= catalogued_enums
    for stage in CATALOGUE:
        values = [str(reason) for reason in stage_reasons(stage)]
        assert len(values) == len(set(values)), stage
        assert all(reason.description and "\n" not in reason.description for reason in stage_reasons(stage))


@pytest.fixture(scope="module")
def toy_marian(tmp_path_factory):
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(tmp_path_factory.mktemp("toy-marian"))


@pytest.mark.slow
def test_every_reason_a_build_counts_is_in_the_catalogue(tmp_path, image_server, download_settings, toy_marian,
                                                       lid_model_path):
    """Captions with the language check, translation with its quality checks (a random toy
    model's output fails them) and parallel MT pairs: every ``stage/reason`` counted is known."""
    from babelshard.pipelines.captions.config import CaptionJobConfig, CleaningConfig, TableSource
    from babelshard.pipelines.jobs.build import MT_PARALLEL_FOLDER, caption_folder
    from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
    from babelshard.pipelines.jobs.run import run_job
    from babelshard.translate.config import TranslateConfig

    captions = ["A red apple on a wooden table.", "Two dogs play in the green park.", "Ein Hund spielt im Park.", ""]
    tsv = tmp_path / "captions.tsv"
    lines = [f"{text}\t{image_server.url}/img/{i}.jpg" for i, text in enumerate(captions)]
    tsv.write_text("\n".join(lines + [f"A lost picture of a house.\t{image_server.url}/404"]) + "\n", encoding="utf-8")
    translate = TranslateConfig(
        **toy_translation(toy_marian.ctranslate2_dir, ["es"], filters={"lid_model_path": lid_model_path})
    )
    cleaning = CleaningConfig(language_check={"model_path": lid_model_path, "min_score": 0.3})
    source = TableSource(name="cc", format="tsv", path=str(tsv), columns=["caption", "url"])
    cfg = JobConfig(
        output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=2),
        captions=CaptionJobConfig(sources=[source], cleaning=cleaning, download=download_settings),
        translate=translate,
    )
    run_job(cfg)

    counted = {}
    for folder in (caption_folder(cfg), os.path.join(cfg.output.folder, MT_PARALLEL_FOLDER)):
        counted.update(json.load(open(os.path.join(folder, "stats.json")))["drops"])
    assert {"language/lid_mismatch", "download/not_found", "read/missing_caption"} <= set(counted)
    assert any(key.startswith("translate/") for key in counted)
    assert uncatalogued(counted) == []
