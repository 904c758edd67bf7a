"""The one small contract every per-record Beam stage follows.

A stage is a plain function ``fn(record) -> record | Drop | list[record | Drop]``.
:class:`ApplyStage` wraps it: the DoFn sets resources up once, calls the function,
routes :class:`~babelshard.stats.Drop` values to the ``drops`` output and counts
inputs, outputs and drops by reason as Beam metrics. Nothing is dropped silently.

:class:`ApplyBatchStage` is the same contract for streams whose elements are
:class:`RecordBatch` lists of records (the text streams): Beam's Python SDK spends
several microseconds per element and stage, more than the per-record work of cheap
stages, so those streams pay it once per batch. Its function takes the whole list (a
model call per batch).
"""
from __future__ import annotations

import functools
import pickle
from typing import Any, Callable, Iterator

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from babelshard.stats import Drop

DROPS = "drops"


class RecordBatch(list):
    """Records that travel through Beam as one element (outputs typed ``RecordBatch``)."""


class RecordBatchCoder(beam.coders.Coder):
    """Pickles a batch in one call, and estimates its size from its first record.

    Beam samples the encoded size of the elements a stage outputs (most of the first
    batches of every stage); its default coder would pickle every record of a sampled
    batch to measure it, about 4 us per record.
    """

    def encode(self, batch: RecordBatch) -> bytes:
        return pickle.dumps(list(batch), pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> RecordBatch:
        return RecordBatch(pickle.loads(encoded))

    def estimate_size(self, batch: RecordBatch) -> int:
        return len(batch) * len(pickle.dumps(batch[0], pickle.HIGHEST_PROTOCOL)) if batch else 1

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self):
        return RecordBatch


beam.coders.registry.register_coder(RecordBatch, RecordBatchCoder)


def route_results(results, name: str, kept: list) -> Iterator:
    """Append records to ``kept``; yield each Drop tagged for the ``drops`` output, counted by reason."""
    for item in results:
        if isinstance(item, Drop):
            Metrics.counter(name, f"dropped/{item.reason}").inc()
            yield pvalue.TaggedOutput(DROPS, item)
        elif item is not None:
            kept.append(item)


class StageDoFn(beam.DoFn):
    def __init__(self, name: str, fn: Callable[..., Any], make_resources: Callable[[], Any] | None = None):
        self.name, self.fn, self.make_resources = name, fn, make_resources
        self.resources = None
        self.inputs = Metrics.counter(name, "inputs")
        self.outputs = Metrics.counter(name, "outputs")

    def setup(self) -> None:
        if self.make_resources is not None:
            self.resources = self.make_resources()

    def process(self, record: Any):
        self.inputs.inc()
        result = self.fn(record, self.resources) if self.make_resources is not None else self.fn(record)
        kept: list = []
        yield from route_results(result if isinstance(result, list) else [result], self.name, kept)
        if kept:
            self.outputs.inc(len(kept))
            yield from kept


class ApplyStage(beam.PTransform):
    """``records | ApplyStage("clean", clean_caption)`` gives outputs with ``.main`` and ``.drops``.

    With ``make_resources`` the function is called as ``fn(record, resources)`` and the
    resources (a model, a lexicon) are created once per DoFn instance in ``setup()``.
    """

    def __init__(self, name: str, fn: Callable[..., Any], make_resources: Callable[[], Any] | None = None):
        super().__init__(label=name)
        self.name, self.fn, self.make_resources = name, fn, make_resources

    def expand(self, records):
        return records | beam.ParDo(StageDoFn(self.name, self.fn, self.make_resources)).with_outputs(DROPS, main="main")


class BatchStageDoFn(StageDoFn):
    """``fn(records, resources) -> list[record | Drop]`` over a batch; yields the kept records as a batch."""

    def process(self, batch: list):
        self.inputs.inc(len(batch))
        results = self.fn(batch, self.resources) if self.make_resources is not None else self.fn(batch)
        kept = RecordBatch()
        yield from route_results(results, self.name, kept)
        if kept:
            self.outputs.inc(len(kept))
            yield kept


class ApplyBatchStage(ApplyStage):
    """``batches | ApplyBatchStage("lid", check_batch, load_model)``: as :class:`ApplyStage`, over lists of records.

    ``.main`` holds non-empty batches of kept records; ``.drops`` single Drops.
    """

    def expand(self, batches):
        dofn = BatchStageDoFn(self.name, self.fn, self.make_resources)
        return batches | beam.ParDo(dofn).with_output_types(RecordBatch).with_outputs(DROPS, main="main")


def per_record(fn: Callable[..., Any]) -> Callable[..., list]:
    """A per-record stage function (record [, resources] -> record | Drop | list) as a batch function."""
    return functools.partial(_apply_per_record, fn)


def _apply_per_record(fn, batch: list, *resources) -> list:
    out: list = []
    for record in batch:
        result = fn(record, *resources)
        if isinstance(result, list):
            out.extend(result)
        else:
            out.append(result)
    return out
