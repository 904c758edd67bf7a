"""The OpenMoji demo end to end, its config, the example configs and the CLI."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from babelshard.pipelines.jobs.config import load_job_config
from babelshard.pipelines.jobs.build import pipeline_options
from babelshard.pipelines.demo.job import default_demo_config, run_demo
from babelshard.pipelines.demo.openmoji import cldr_languages, pick_emoji
from babelshard.records import stable_key
from babelshard.shards.reader import iter_records, verify_folder

REPO = Path(__file__).resolve().parents[3]
CAPTION_CONFIGS = ("demo", "cc3m", "cc12m", "coco-karpathy", "multi30k", "img2dataset-parquet")
CONFIGS = [REPO / "configs" / f"{name}.yaml" for name in CAPTION_CONFIGS]


def demo_config(tmp_path, count: int, translate: bool = False):
    cfg = default_demo_config(str(tmp_path / "demo"))
    return cfg.model_copy(update={"demo": cfg.demo.model_copy(update={"emoji_count": count, "translate": translate})})


def test_demo_end_to_end_then_read_back(tmp_path):
    printed: list[str] = []
    summary = run_demo(demo_config(tmp_path, 9), echo=printed.append)
    folder = str(tmp_path / "demo" / "caption")
    index = verify_folder(folder)
    records = sorted(iter_records(folder), key=lambda r: r.key)
    emoji = pick_emoji(9)
    assert len(records) == index.samples == summary.streams[0].samples == 9
    assert {r.key for r in records} == {stable_key("openmoji", item.hexcode) for item in emoji}
    names = {stable_key("openmoji", item.hexcode): item.names for item in emoji}
    for record in records:
        assert {lang: c.text for lang, c in record.captions.items()} == names[record.key]
        assert all(c.provenance == "human" for c in record.captions.values())
        with Image.open(io.BytesIO(record.image)) as image:
            assert (image.format, image.size) == ("JPEG", (64, 64))
        assert record.url.startswith("http://127.0.0.1:") and record.meta["emoji"]
    # the demo's code-switch stage (CLDR lexicon) switched words of at least one caption
    variants = [v for r in records for v in r.codeswitched]
    assert variants and all(len(v.tokens) == len(v.langs) for v in variants)
    assert index.languages == {lang: 9 for lang in cldr_languages()} and len(index.languages) == 14
    text = "\n".join(printed)
    assert "inputs 9 = samples 9 + dropped 0" in text and f"output: {tmp_path / 'demo'}" in text


def test_demo_yaml_is_the_built_in_demo():
    assert load_job_config(REPO / "configs" / "demo.yaml") == default_demo_config()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_configs_are_valid(path):
    cfg = load_job_config(path)
    assert cfg.captions is not None
    assert cfg.captions.sources or cfg.demo is not None


def test_command_line_beam_options_override_the_config():
    cfg = default_demo_config().model_copy(update={"beam": default_demo_config().beam.model_copy(update={"direct_num_workers": 3})})
    options = pipeline_options(cfg, ["--direct_running_mode=multi_processing", "--job_name=x"]).get_all_options()
    assert options["direct_num_workers"] == 3
    assert options["direct_running_mode"] == "multi_processing"
    assert options["job_name"] == "x"


@pytest.mark.slow
def test_demo_command_in_a_fresh_process(tmp_path):
    output = tmp_path / "out"
    command = [sys.executable, "-m", "babelshard.cli", "demo", "--output", str(output), "--count", "4",
               "--direct_num_workers=1"]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"output: {output}" in done.stdout
    assert "wrote 4 samples" in done.stdout
    languages = int(done.stdout.split("languages (")[1].split(")")[0])
    assert languages == (15 if "Apertium en->es, ca" in done.stdout else 14)  # + machine-translated ca
    assert verify_folder(str(output / "caption")).samples == 4


def test_build_command_reports_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("output: {folder: x}\ncaptions:\n  sources:\n    - {name: a, format: tsv, path: a.tsv}\n")
    done = subprocess.run([sys.executable, "-m", "babelshard.cli", "build", str(bad)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "captions.sources.0.tsv" in done.stderr and "needs `columns`" in done.stderr
