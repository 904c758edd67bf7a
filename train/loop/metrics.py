"""Metrics (``metrics.jsonl``, and TensorBoard or W&B offline beside it) and the step clock
(how much of a step is spent waiting for data)."""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter, defaultdict
from typing import Any, Mapping, Sequence

from babelshard.errors import UserError

NOT_SCALARS = ("step", "time", "batch_digest")


class LoggerUnavailable(UserError):
    """A metrics logger named in ``loop.loggers`` whose package is not installed."""


def scalars(record: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics record, nested keys joined with ``/`` (``samples_per_second/caption``)."""
    found: dict[str, float] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(scalars(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and name not in NOT_SCALARS:
            found[name] = float(value)
    return found


class TensorBoardSink:
    """Event files in ``<folder>/tensorboard``; a resumed run appends a new file to the same folder."""

    def __init__(self, folder: str, run_name: str, config: Mapping[str, Any] | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise LoggerUnavailable("loop.loggers has tensorboard, which is not installed: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=os.path.join(folder, "tensorboard"))
        if config:
            self.writer.add_text("config", f"```json\n{json.dumps(config, indent=1, sort_keys=True)}\n```", 0)

    def log(self, values: Mapping[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()  # a killed run keeps what it logged

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    """A W&B run in offline mode under ``<folder>/wandb`` (``wandb sync`` uploads it later).

    Its id comes from the output folder, so a resumed run continues the same W&B run."""

    def __init__(self, folder: str, run_name: str, config: Mapping[str, Any] | None):
        try:
            import wandb
        except ImportError:
            raise LoggerUnavailable("loop.loggers has wandb, which is not installed: pip install wandb") from None
        run_id = hashlib.sha1(os.path.abspath(folder).encode()).hexdigest()[:12]
        self.run = wandb.init(mode="offline", dir=folder, project="babelshard", name=run_name, id=run_id,
                              resume="allow", config=dict(config or {}))

    def log(self, values: Mapping[str, float], step: int) -> None:
        self.run.log(dict(values), step=step)

    def close(self) -> None:
        self.run.finish()


SINKS = {"tensorboard": TensorBoardSink, "wandb": WandbSink}

from babelshard.train.data.batches import MixedBatch


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` (main process only), and hands each
    record's numbers to the ``loggers`` named (``tensorboard``, ``wandb``), which write beside it."""

    def __init__(self, path: str | None, loggers: Sequence[str] = (), run_name: str = "babelshard",
                 config: Mapping[str, Any] | None = None):
        self.path = path
        self.sinks: list[Any] = []
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._end_torn_line(path)
            folder = os.path.dirname(path) or "."
            self.sinks = [SINKS[kind](folder, run_name, config) for kind in loggers]

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
        if self.sinks:
            values = scalars(record)
            for sink in self.sinks:
                sink.log(values, int(record.get("step", 0)))

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.sinks = []


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
