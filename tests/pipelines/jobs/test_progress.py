"""Progress lines: read from the shards' stats files while a real DirectRunner build
runs, from Beam counters of a real result, and with a clock the test sets."""
from __future__ import annotations

import json
import re

import apache_beam as beam
from apache_beam.metrics import Metrics

from babelshard.pipelines.captions.config import CaptionJobConfig, TableSource
from babelshard.pipelines.jobs.build import caption_folder
from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.pipelines.jobs.progress import FolderProgress, ProgressWatcher, folder_progress, metric_lines, progress_line
from babelshard.pipelines.jobs.run import run_job
from babelshard.records import stable_key
from babelshard.shards.bucket import write_shard
from babelshard.shards.index import read_index
from babelshard.stats import Drop

LINE = re.compile(r"progress: (\d+)/(\d+|\?) shards, ([\d,]+) samples of ([\d,]+) inputs")


def test_a_build_says_progress_lines_ending_with_its_totals(tmp_path, image_server, download_settings):
    tsv = tmp_path / "images.tsv"
    paths = [f"/img/{i}.jpg" for i in range(10)] + ["/404", "/html"]
    tsv.write_text("".join(f"emoji picture {i}\t{image_server.url}{p}\n" for i, p in enumerate(paths)), encoding="utf-8")
    source = TableSource(name="cc3m", format="tsv", path=str(tsv), columns=["caption", "url"])
    cfg = JobConfig(output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=3),
                    captions=CaptionJobConfig(sources=[source], download=download_settings))
    said: list[str] = []
    run_job(cfg, progress=said.append, progress_interval=0.01)
    index = read_index(caption_folder(cfg))
    stats = json.loads((tmp_path / "out" / "caption" / "stats.json").read_text())
    counts = [LINE.match(line).groups() for line in said]
    done = [int(c[0]) for c in counts]
    assert done == sorted(done)  # never goes back
    shards = len([s for s in (tmp_path / "out" / "caption").iterdir() if s.name.endswith(".stats.json")])
    assert counts[-1] == (str(shards), str(shards), f"{index.samples:,}", f"{stats['inputs']:,}")
    assert said[-1].split("dropped ")[1].split(";")[0] == "download 2"


def _shard(folder, number, total, samples, drops):
    items = [Drop(stable_key("t", f"{number}-{i}"), "download", "not_found") for i in range(drops)]
    write_shard(str(folder), number, total, [], items, "hash")


def test_folder_progress_counts_finished_shards_by_stage(tmp_path):
    assert folder_progress(str(tmp_path / "not-yet")) == FolderProgress()
    _shard(tmp_path, 0, 4, 0, 2)
    _shard(tmp_path, 2, 4, 0, 1)
    (tmp_path / "shard-000003.tar").write_bytes(b"")  # a shard still being written has no stats file yet
    assert folder_progress(str(tmp_path)) == FolderProgress(2, 4, 3, 0, {"download": 3})


def test_the_last_line_counts_the_shards_written_when_a_planned_shard_got_no_record(tmp_path):
    said: list[str] = []
    watcher = ProgressWatcher(str(tmp_path), said.append, clock=iter([0.0, 5.0, 6.0]).__next__)
    for number in (0, 1, 3):
        _shard(tmp_path, number, 4, 0, 1)
    watcher.tick()
    watcher.tick(finished=True)
    assert [LINE.match(line).groups()[:2] for line in said] == [("3", "4"), ("3", "3")]


def test_rate_and_time_left_come_from_the_clock(tmp_path):
    ticks = iter([100.0, 110.0, 130.0])
    said: list[str] = []
    watcher = ProgressWatcher(str(tmp_path), said.append, clock=lambda: next(ticks))
    _shard(tmp_path, 0, 4, 0, 5)
    watcher.tick()  # one shard of four in 10 s: 30 s left
    _shard(tmp_path, 1, 4, 0, 5)
    watcher.tick()  # two in 30 s: 30 s left
    assert said == [
        "progress: 1/4 shards, 0 samples of 5 inputs, dropped download 5; 0.0 samples/s, about 30 s left",
        "progress: 2/4 shards, 0 samples of 10 inputs, dropped download 10; 0.0 samples/s, about 30 s left",
    ]


def test_an_unchanged_folder_says_nothing_new(tmp_path):
    said: list[str] = []
    watcher = ProgressWatcher(str(tmp_path), said.append, clock=lambda: 0.0)
    watcher.tick()
    watcher.tick()
    assert said == ["progress: 0/? shards, 0 samples of 0 inputs"]


def test_metric_lines_group_beam_counters_by_stage():
    class Count(beam.DoFn):
        def __init__(self):
            self.inputs, self.kept = Metrics.counter("clean", "inputs"), Metrics.counter("clean", "outputs")

        def process(self, item):
            self.inputs.inc()
            if item % 2:
                self.kept.inc()
                yield item

    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = pipeline | beam.Create(range(7)) | beam.ParDo(Count())
    result = pipeline.run()
    result.wait_until_finish()
    assert metric_lines(result) == ["metrics clean: inputs 7, outputs 3"]


def test_a_line_names_what_it_does_not_know_yet():
    assert progress_line(FolderProgress(), 5.0) == "progress: 0/? shards, 0 samples of 0 inputs"
