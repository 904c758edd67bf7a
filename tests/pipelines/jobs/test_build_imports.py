"""A caption job without model stages loads no model library: a real build in a fresh
interpreter (the DirectRunner in-process, so the launcher's and the workers' code run
in one process), then a look at what it imported."""
from __future__ import annotations

import json
import subprocess
import sys

from babelshard.langid import LanguageIdConfig
from babelshard.pipelines.captions.config import CaptionJobConfig, CleaningConfig, TableSource
from babelshard.pipelines.jobs.config import JobConfig, OutputConfig

MODEL_LIBRARIES = ("torch", "apache_beam.ml", "transformers", "ctranslate2", "fasttext")

BUILD_AND_LIST_MODULES = f"""
import json, sys
from babelshard.pipelines.jobs.config import load_job_config
from babelshard.pipelines.jobs.run import run_job
summary = run_job(load_job_config(sys.argv[1]))
loaded = [name for name in {MODEL_LIBRARIES!r} if name in sys.modules]
print(json.dumps({{"samples": summary.streams[0].samples, "loaded": loaded}}))
"""


def build_in_fresh_interpreter(tmp_path, cfg: JobConfig) -> dict:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(cfg.model_dump(mode="json", exclude_unset=True)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", BUILD_AND_LIST_MODULES, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def caption_job(tmp_path, server, download, cleaning: CleaningConfig | None = None) -> JobConfig:
    tsv = tmp_path / "images.tsv"
    tsv.write_text("".join(f"a small picture number {i}\t{server.url}/img/{i}.jpg\n" for i in range(3)), encoding="utf-8")
    source = TableSource(name="cc3m", format="tsv", path=str(tsv), columns=["caption", "url"])
    captions = CaptionJobConfig(sources=[source], download=download, **({"cleaning": cleaning} if cleaning else {}))
    return JobConfig(output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=2), captions=captions)


def test_a_caption_job_without_model_stages_imports_no_model_library(tmp_path, image_server, download_settings):
    result = build_in_fresh_interpreter(tmp_path, caption_job(tmp_path, image_server, download_settings))
    assert result == {"samples": 3, "loaded": []}


def test_the_language_check_brings_its_model_stage_libraries(tmp_path, image_server, download_settings, lid_model_path):
    cleaning = CleaningConfig(language_check=LanguageIdConfig(model_path=lid_model_path, min_score=0.0))
    result = build_in_fresh_interpreter(tmp_path, caption_job(tmp_path, image_server, download_settings, cleaning))
    assert result["samples"] == 3
    assert {"apache_beam.ml", "fasttext"} <= set(result["loaded"])
