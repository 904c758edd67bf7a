"""Running a job config and summarising what it wrote."""
from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Sequence

from babelshard.pipelines.jobs.config import JobConfig
from babelshard.pipelines.jobs.lock import locked_folder
from babelshard.pipelines.jobs.progress import ProgressWatcher
from babelshard.fs import exists, join, read_text
from babelshard.shards.index import read_index


@dataclass(frozen=True)
class StreamSummary:
    folder: str
    shards: int
    samples: int
    inputs: int
    bytes: int
    drops: dict[str, int] = field(default_factory=dict)
    languages: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())


@dataclass(frozen=True)
class RunSummary:
    output: str
    seconds: float
    streams: tuple[StreamSummary, ...]
    downloaded: int | None = None  # images fetched by this run (complete shards are skipped)


def summarize_folder(folder: str) -> StreamSummary:
    """Totals from a finished shard folder's ``index.json`` and ``stats.json``."""
    index = read_index(folder)
    stats_path = join(folder, "stats.json")
    stats = json.loads(read_text(stats_path)) if exists(stats_path) else {}
    return StreamSummary(
        folder=folder,
        shards=len(index.shards),
        samples=index.samples,
        inputs=int(stats.get("inputs", index.samples)),
        bytes=index.bytes,
        drops=dict(stats.get("drops", {})),
        languages=index.languages,
    )


def _counter(result, namespace: str, name: str) -> int | None:
    try:
        from apache_beam.metrics.metric import MetricsFilter

        found = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))["counters"]
    except Exception:  # not every runner reports metrics; the summary does without
        return None
    return sum(item.committed or item.attempted or 0 for item in found) if found else 0


def _wait_with_progress(result, watcher: ProgressWatcher | None, interval: float) -> None:
    """Wait for the job; while a runner returns before its job ends (remote runners),
    say its Beam counters every ``interval`` seconds."""
    from apache_beam.runners.runner import PipelineState

    while True:
        state = result.wait_until_finish(duration=int(interval * 1000)) if watcher else result.wait_until_finish()
        if state is None or PipelineState.is_terminal(state) or watcher is None:
            return
        watcher.tick(result)


def run_job(cfg: JobConfig, argv: Sequence[str] = (), retry_failed: bool = False,
            progress: Callable[[str], None] | None = None, progress_interval: float = 10.0) -> RunSummary:
    """Build and run the pipeline, wait for it, and summarise the caption stream. The
    output folder is locked for the run: a second run on it is refused. With ``progress``,
    progress lines (shards done of total, samples, drops per stage, rate, time left) go to
    it every ``progress_interval`` seconds and once at the end. ``retry_failed``: see
    :func:`~babelshard.pipelines.jobs.build.build_pipeline`."""
    from babelshard.pipelines.jobs.build import build_pipeline, caption_folder, pipeline_options
    from babelshard.pipelines.jobs.remote import check_job_paths, remote_runner

    started = time.monotonic()
    options = pipeline_options(cfg, argv)
    check_job_paths(cfg, options)
    if cfg.features is not None and cfg.captions is not None and remote_runner(options) is None:
        from babelshard.pipelines.features.models import check_checkpoints

        check_checkpoints(cfg.features)
    with locked_folder(cfg.output.folder):
        pipeline = build_pipeline(cfg, options, retry_failed)
        watcher = None
        if progress is not None and cfg.captions is not None:
            watcher = ProgressWatcher(caption_folder(cfg), progress, progress_interval)
        with watcher or nullcontext():
            result = pipeline.run()
            _wait_with_progress(result, watcher, progress_interval)
        if watcher is not None:
            watcher.tick(finished=True)
    seconds = time.monotonic() - started
    streams = []
    if cfg.captions is not None:
        streams.append(summarize_folder(caption_folder(cfg)))
    return RunSummary(cfg.output.folder, seconds, tuple(streams), _counter(result, "download", "outputs"))


def format_summary(summary: RunSummary) -> str:
    lines = []
    for stream in summary.streams:
        lines.append(f"wrote {stream.samples:,} samples in {stream.shards} shard(s) ({stream.bytes:,} bytes) to {stream.folder}")
        lines.append(f"  inputs {stream.inputs:,} = samples {stream.samples:,} + dropped {stream.dropped:,}")
        for reason, count in sorted(stream.drops.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {reason}: {count:,}")
        languages = ", ".join(f"{lang} {count:,}" for lang, count in stream.languages.items())
        lines.append(f"  languages ({len(stream.languages)}): {languages}")
    rate = ""
    if summary.downloaded is not None:
        rate = f"; downloaded {summary.downloaded:,} images, {summary.downloaded / max(summary.seconds, 1e-9):.1f} images/s"
    lines.append(f"took {summary.seconds:.1f} s{rate}")
    lines.append(f"output: {summary.output}")
    return "\n".join(lines)
