"""``babelshard demo``: OpenMoji images with CLDR captions in 14 languages, served from a
loopback HTTP server and built into caption shards through the same download path as
a CC3M run (DirectRunner by default).

``configs/demo.yaml`` is :func:`default_demo_config` written out; the demo adds its
own caption source (the JSONL it writes next to the shards).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import yaml

from babelshard.codeswitch.config import DEMO_YAML, CodeSwitchConfig
from babelshard.pipelines.jobs.config import DemoConfig, JobConfig, OutputConfig
from babelshard.configbase import ConfigError
from babelshard.pipelines.captions.config import (
    CaptionJobConfig,
    CleaningConfig,
    DownloadConfig,
    ImageConfig,
    TableSource,
)
from babelshard.pipelines.jobs.build import pipeline_options
from babelshard.pipelines.jobs.remote import check_local_runner
from babelshard.pipelines.jobs.run import RunSummary, format_summary, run_job

SOURCE_FOLDER = "openmoji-source"
DEFAULT_OUTPUT = "babelshard-demo"


def default_demo_config(output: str = DEFAULT_OUTPUT) -> JobConfig:
    """The demo job: small shards, loopback allowed, no per-host rate limit (one local host)."""
    download = DownloadConfig(
        thread_count=16,
        timeout=5.0,
        retries=1,
        backoff=0.2,
        per_host_concurrency=16,
        per_host_rate=0.0,
        allow_loopback=True,
        image=ImageConfig(image_size=64, resize_mode="border", encode_format="jpg", encode_quality=90),
    )
    return JobConfig(
        name="openmoji-demo",
        output=OutputConfig(folder=output, samples_per_shard=500),
        captions=CaptionJobConfig(cleaning=CleaningConfig(min_chars=1), download=download),
        codeswitch=CodeSwitchConfig.model_validate(yaml.safe_load(DEMO_YAML)["codeswitch"]),
        demo=DemoConfig(),
    )


def with_demo_translation(cfg: JobConfig, echo: Callable[[str], None]) -> JobConfig:
    """Apertium en->es/ca where installed (the demo says how to install it otherwise)."""
    from babelshard.pipelines.demo.translation import demo_translate_config

    translate, note = demo_translate_config()
    echo(note)
    return cfg if translate is None else cfg.model_copy(update={"translate": translate})


def openmoji_source(path: str, languages: Sequence[str]) -> TableSource:
    return TableSource(
        name="openmoji",
        format="jsonl",
        path=path,
        key_column="key",
        caption_column="caption",
        language_columns={lang: f"caption_{lang}" for lang in languages if lang != "en"},
        extra_columns=["emoji"],
    )


def with_demo_source(cfg: JobConfig, captions_path: str, languages: Sequence[str]) -> JobConfig:
    if cfg.captions is None:
        raise ConfigError("the demo config needs a `captions` section (cleaning and download settings)")
    captions = cfg.captions.model_copy(update={"sources": [openmoji_source(captions_path, languages)]})
    return cfg.model_copy(update={"captions": captions})


def run_demo(
    cfg: JobConfig | None = None,
    argv: Sequence[str] = (),
    *,
    echo: Callable[[str], None] = print,
) -> RunSummary:
    """Render, serve, build; prints progress and the summary, returns the summary."""
    from babelshard.pipelines.demo.httpserver import serve_folder
    from babelshard.pipelines.demo.openmoji import CAPTIONS, cldr_languages, pick_emoji, render_openmoji, write_captions

    cfg = cfg or default_demo_config()
    check_local_runner(pipeline_options(cfg, argv), "the demo serves its images from this machine's loopback (127.0.0.1)")
    demo = cfg.demo or DemoConfig()
    if demo.translate and cfg.translate is None:
        cfg = with_demo_translation(cfg, echo)
    languages = demo.languages or cldr_languages()
    source = Path(cfg.output.folder) / SOURCE_FOLDER
    chosen = pick_emoji(demo.emoji_count, languages)
    echo(f"rendering {len(chosen)} OpenMoji emoji to {source / 'images'} ...")
    render_openmoji(source, chosen, demo.render_size)
    with serve_folder(str(source), demo.port) as base_url:
        write_captions(source / CAPTIONS, chosen, base_url)
        echo(f"serving them at {base_url}; building caption shards with captions in {len(languages)} languages ...")
        summary = run_job(with_demo_source(cfg, str(source / CAPTIONS), languages), argv)
    echo(format_summary(summary))
    if cfg.translate is not None:
        report_translation_quality(cfg, echo)
    echo(f"next: babelshard inspect {cfg.output.folder}")
    return summary


def report_translation_quality(cfg: JobConfig, echo: Callable[[str], None]) -> None:
    """chrF of the machine translations against the human CLDR names they replaced."""
    from babelshard.pipelines.jobs.build import caption_folder
    from babelshard.shards.reader import iter_records
    from babelshard.pipelines.demo.translation import quality_lines

    for line in quality_lines(iter_records(caption_folder(cfg)), list(cfg.translate.targets)):
        echo(line)
