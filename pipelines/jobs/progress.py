"""Live progress of a running job, as plain log lines (readable in a file or CI log).

Two sources, because runners differ in what they show while running. Every runner's
shard writer leaves ``shard-NNNNNN.stats.json`` beside each finished shard, holding
the shard's inputs, samples and drops by ``stage/reason`` and the plan's shard count,
so :func:`folder_progress` reads shards done of total, samples and drops per stage
from the output folder (local or any fsspec store). Runners whose ``run()`` returns
while the job runs (Dataflow, Flink, Spark) also answer Beam metric queries, and
:func:`metric_lines` turns their counters into one line per namespace (stage).
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable

from babelshard.fs import filesystem

STATS_FILE = re.compile(r"shard-\d{6}\.stats\.json")


@dataclass(frozen=True)
class FolderProgress:
    shards_done: int = 0
    shards_total: int | None = None  # the plan's count, once a shard reports it
    inputs: int = 0
    samples: int = 0
    drops_by_stage: dict[str, int] = field(default_factory=dict)


def folder_progress(folder: str) -> FolderProgress:
    """What the finished shards of ``folder`` hold so far."""
    fs, path = filesystem(folder)
    try:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path.rstrip("/"), detail=False, refresh=True)]
    except FileNotFoundError:
        return FolderProgress()
    done, total, inputs, samples, drops = 0, None, 0, 0, Counter()
    for name in sorted(n for n in names if STATS_FILE.fullmatch(n)):
        try:
            with fs.open(f"{path.rstrip('/')}/{name}", "rb") as handle:
                stats = json.load(handle)
        except (FileNotFoundError, ValueError):  # a shard being replaced right now
            continue
        done += 1
        total = stats.get("num_shards", total)
        inputs += int(stats["stats"].get("inputs", 0))
        samples += int(stats["stats"].get("outputs", 0))
        for stage_reason, count in stats["stats"].get("drops", {}).items():
            drops[stage_reason.split("/", 1)[0]] += int(count)
    return FolderProgress(done, total, inputs, samples, dict(sorted(drops.items())))


def progress_line(now: FolderProgress, seconds: float, first: FolderProgress | None = None) -> str:
    """``progress: 3/8 shards, 120 samples of 135 inputs, dropped download 10 read 5; 4.0 samples/s, about 20 s left``.
    Rates count from ``first`` (what was already on disk when watching began)."""
    first = first or FolderProgress()
    total = "?" if now.shards_total is None else str(now.shards_total)
    line = f"progress: {now.shards_done}/{total} shards, {now.samples:,} samples of {now.inputs:,} inputs"
    if now.drops_by_stage:
        line += ", dropped " + " ".join(f"{stage} {count:,}" for stage, count in now.drops_by_stage.items())
    new_samples, new_shards = now.samples - first.samples, now.shards_done - first.shards_done
    if seconds > 0 and new_shards > 0:
        line += f"; {new_samples / seconds:.1f} samples/s"
        if now.shards_total is not None:
            left = (now.shards_total - now.shards_done) * seconds / new_shards
            line += f", about {left:.0f} s left"
    return line


def metric_lines(result) -> list[str]:
    """One line per metric namespace (a stage) of a running or finished Beam result:
    ``metrics download: inputs 120, outputs 110, drops/http_error 10``."""
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # noqa: BLE001 - a runner that answers no metric queries shows none
        return []
    by_namespace: dict[str, Counter] = {}
    for item in counters:
        value = item.committed if item.committed is not None else item.attempted
        by_namespace.setdefault(item.key.metric.namespace, Counter())[item.key.metric.name] += int(value or 0)
    return [f"metrics {namespace}: " + ", ".join(f"{name} {count:,}" for name, count in sorted(names.items()))
            for namespace, names in sorted(by_namespace.items())]


class ProgressWatcher:
    """Says a progress line every ``interval`` seconds from a background thread while a
    job runs, and once more at the end. ``tick`` is the one step, callable directly."""

    def __init__(self, folder: str, say: Callable[[str], None], interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.folder, self.say, self.interval, self.clock = folder, say, interval, clock
        self.started = clock()
        self.first = folder_progress(folder)
        self.last_line: str | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="babelshard-progress", daemon=True)

    def tick(self, result=None, finished: bool = False) -> None:
        now = folder_progress(self.folder)
        if finished:  # a planned shard that no record hashed to is never written
            now = replace(now, shards_total=now.shards_done)
        line = progress_line(now, self.clock() - self.started, self.first)
        if line != self.last_line:
            self.say(line)
            self.last_line = line
        if result is not None:
            for metric_line in metric_lines(result):
                self.say(metric_line)

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            self.tick()

    def __enter__(self) -> "ProgressWatcher":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
