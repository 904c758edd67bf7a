"""JSONL metrics and the step clock (how much of a step is spent waiting for data)."""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from typing import Any, Mapping

from babelshard.train.data.batches import MixedBatch


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (main process only)."""

    def __init__(self, path: str | None):
        self.path = path
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._end_torn_line(path)

    @staticmethod
    def _end_torn_line(path: str) -> None:
        """A run killed mid-write leaves a partial last line; start the resumed run's on a new one."""
        if os.path.exists(path) and os.path.getsize(path):
            with open(path, "rb+") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")

    def write(self, record: Mapping[str, Any]) -> None:
        if not self.path:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")


def read_metrics(path: str) -> list[dict[str, Any]]:
    """Every complete record; a line torn by a kill is left out."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def batch_digest(batch: MixedBatch) -> str:
    """A short hash of the sample keys of every stream, to compare runs batch by batch."""
    digest = hashlib.sha1()
    for name in sorted(batch.streams):
        digest.update(name.encode())
        for key in batch.streams[name].keys:
            digest.update(key.encode())
    return digest.hexdigest()[:12]


class StepClock:
    """Accumulates, between two reports, the seconds spent waiting for batches, the
    whole step time, the samples per stream and the loss terms."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.wait = 0.0
        self.total = 0.0
        self.steps = 0
        self.samples: Counter = Counter()
        self.losses: defaultdict = defaultdict(float)
        self.started = time.perf_counter()

    def waited(self, seconds: float) -> None:
        self.wait += seconds

    def step_done(self, step_seconds: float, samples: Mapping[str, int], losses: Mapping[str, float]) -> None:
        self.total += step_seconds
        self.steps += 1
        self.samples.update(samples)
        for name, value in losses.items():
            self.losses[name] += value

    def report(self, world: int) -> dict[str, Any]:
        """Means over the interval; samples/s per stream summed over ranks."""
        elapsed = max(self.total, 1e-9)
        steps = max(self.steps, 1)
        return {
            "data_wait_fraction": self.wait / elapsed,
            "step_seconds": self.total / steps,
            "samples_per_second": {k: v * world / elapsed for k, v in sorted(self.samples.items())},
            **{k: v / steps for k, v in sorted(self.losses.items())},
        }
