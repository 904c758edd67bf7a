"""The one small contract of every Beam stage: a plain function does the work; an adapter
sets it up once per worker, routes the drops and counts.

A stage function returns, per input, a record, a :class:`~babelshard.stats.Drop`, a
list (or generator) of them, or None. Every adapter sends what it returns through
:meth:`StageCounters.route`: Drops go to the ``drops`` output and are counted by reason
(``<stage>:dropped/<reason>``), everything else goes to the main output (``outputs``);
``inputs`` counts what came in. Nothing is dropped silently.

- :class:`ApplyStage`: per record, ``fn(record[, resources])``.
- :class:`ApplyBatchStage`: per :class:`RecordBatch`, ``fn(records[, resources]) -> list``.
  Beam's Python SDK spends several microseconds per element and stage, more than the
  per-record work of cheap stages, so the text streams pay it once per batch.
- :class:`GroupStage`: key each record, group, ``fn(key, records[, **joined])``.
- :class:`ReadFiles`: match file patterns, ``fn(path)`` yields each file's records.
- Model stages (``RunInference`` with a model handler) are in :mod:`babelshard.inference`,
  so that a pipeline without a model does not import Beam's ML package.
"""
from __future__ import annotations

import functools
import pickle
import sys
import types
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io import fileio
from apache_beam.metrics import Metrics

from babelshard.stats import Drop

DROPS = "drops"
RECORDS = "records"  # the grouped records' tag in a GroupStage with joined collections
WHOLE_BATCH = sys.maxsize  # route(..., batch_size=WHOLE_BATCH): everything kept in one RecordBatch


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


class StageOutputs(NamedTuple):
    """A stage's two outputs when they are not one ParDo's (``.main`` and ``.drops``)."""

    main: Any
    drops: Any


class StageCounters:
    """Beam counters of one stage (the namespace): ``inputs``, ``outputs``, ``dropped/<reason>``."""

    def __init__(self, name: str):
        self.name = name
        self.inputs = Metrics.counter(name, "inputs")
        self.outputs = Metrics.counter(name, "outputs")
        self.dropped: dict[str, Any] = {}

    def route(self, items: Iterable, batch_size: int | None = None) -> Iterator:
        """Each Drop tagged for the ``drops`` output; None skipped; a ``TaggedOutput`` as it
        is; other items on the main output, one by one or, with ``batch_size``, as
        :class:`RecordBatch` lists of up to that many. Counted once, at the end.

        Types are compared exactly (neither Drop nor TaggedOutput has subclasses): this
        loop runs for every record of every stage, and ``isinstance`` costs more.
        """
        kept, reasons = 0, {}
        batch = RecordBatch()
        append = batch.append
        for item in items:
            kind = type(item)
            if kind is Drop:
                reasons[item.reason] = reasons.get(item.reason, 0) + 1
                yield pvalue.TaggedOutput(DROPS, item)
            elif item is None:
                continue
            elif batch_size is None or kind is pvalue.TaggedOutput:
                kept += 1
                yield item
            else:
                append(item)
                if len(batch) >= batch_size:
                    kept += len(batch)
                    yield batch
                    batch = RecordBatch()
                    append = batch.append
        if batch:
            kept += len(batch)
            yield batch
        self.count(kept, reasons)

    def count(self, outputs: int, drops_by_reason: dict[str, int]) -> None:
        if outputs:
            self.outputs.inc(outputs)
        for reason, count in drops_by_reason.items():
            counter = self.dropped.get(reason)
            if counter is None:
                counter = self.dropped[reason] = Metrics.counter(self.name, f"dropped/{reason}")
            counter.inc(count)


def as_items(result: Any) -> Iterable:
    """A stage function's result as items to route: a list or generator as it is, else one item."""
    return result if isinstance(result, (list, types.GeneratorType)) else (result,)


class StageDoFn(beam.DoFn):
    """``fn(record[, resources])`` per record; resources made once per DoFn instance in ``setup()``."""

    def __init__(self, name: str, fn: Callable[..., Any], make_resources: Callable[[], Any] | None = None):
        self.fn, self.make_resources = fn, make_resources
        self.counters = StageCounters(name)
        self.resources = None

    def setup(self) -> None:
        if self.make_resources is not None:
            self.resources = self.make_resources()

    def call(self, element: Any) -> Any:
        return self.fn(element, self.resources) if self.make_resources is not None else self.fn(element)

    def process(self, record: Any):
        self.counters.inputs.inc()
        return self.counters.route(as_items(self.call(record)))


class ApplyStage(beam.PTransform):
    """``records | ApplyStage("clean", clean_caption)`` gives outputs with ``.main`` and ``.drops``.

    With ``make_resources`` the function is called as ``fn(record, resources)`` and the
    resources (an HTTP opener, a converter) are created once per DoFn instance in
    ``setup()``. Models go through a model stage (:mod:`babelshard.inference`) instead.
    """

    def __init__(self, name: str, fn: Callable[..., Any], make_resources: Callable[[], Any] | None = None):
        super().__init__(label=name)
        self.name, self.fn, self.make_resources = name, fn, make_resources

    def expand(self, records):
        return records | beam.ParDo(StageDoFn(self.name, self.fn, self.make_resources)).with_outputs(DROPS, main="main")


class BatchStageDoFn(StageDoFn):
    """``fn(records[, resources]) -> list[record | Drop]`` over a batch; yields the kept records as a batch."""

    def process(self, batch: list):
        self.counters.inputs.inc(len(batch))
        return self.counters.route(self.call(batch), WHOLE_BATCH)


class ApplyBatchStage(ApplyStage):
    """``batches | ApplyBatchStage("text_prepare", prepare)``: as :class:`ApplyStage`, over lists of records.

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


class KeyEach(beam.DoFn):
    """``record -> (key(record), record)``, counting the stage's inputs."""

    def __init__(self, name: str, key: Callable[[Any], Any]):
        self.key = key
        self.counters = StageCounters(name)

    def process(self, record: Any):
        self.counters.inputs.inc()
        yield self.key(record), record


class GroupDoFn(beam.DoFn):
    def __init__(self, name: str, fn: Callable[..., Iterable], joined: tuple[str, ...], batch_size: int | None):
        self.fn, self.joined, self.batch_size = fn, joined, batch_size
        self.counters = StageCounters(name)

    def process(self, element: tuple[Any, Any]):
        key, values = element
        if self.joined:
            results = self.fn(key, values[RECORDS], **{tag: values[tag] for tag in self.joined})
        else:
            results = self.fn(key, values)
        return self.counters.route(results, self.batch_size)


class GroupStage(beam.PTransform):
    """``records | GroupStage("dedup", resolve, key=url_of)``: ``fn(key, records)`` per group of
    records sharing a key returns records and Drops (``.main``, ``.drops``).

    ``join`` adds PCollections already keyed ``(key, value)`` to the grouping
    (``CoGroupByKey``); their values reach ``fn`` as keyword arguments named by their
    tags. ``pack`` replaces the per-record keying with a DoFn that emits ``(key, value)``
    and counts ``inputs`` itself (the text dedup packs rows of whole batches).
    ``outputs`` names extra outputs the function fills with ``TaggedOutput`` items;
    with ``batch_size`` the main output is :class:`RecordBatch` lists.
    """

    def __init__(self, name: str, fn: Callable[..., Iterable], key: Callable[[Any], Any] | None = None, *,
                 pack: beam.DoFn | None = None, join: dict[str, Any] | None = None,
                 outputs: tuple[str, ...] = (), batch_size: int | None = None):
        super().__init__(label=name)
        if (key is None) == (pack is None):
            raise ValueError(f"{name}: give either key or pack")
        self.name, self.fn, self.key, self.pack = name, fn, key, pack
        self.join, self.outputs, self.batch_size = dict(join or {}), tuple(outputs), batch_size

    def expand(self, records):
        keyed = records | "Key" >> beam.ParDo(self.pack if self.pack is not None else KeyEach(self.name, self.key))
        if self.join:
            grouped = {RECORDS: keyed, **self.join} | "Group" >> beam.CoGroupByKey()
        else:
            grouped = keyed | "Group" >> beam.GroupByKey()
        resolve = beam.ParDo(GroupDoFn(self.name, self.fn, tuple(self.join), self.batch_size))
        if self.batch_size is not None:
            resolve = resolve.with_output_types(RecordBatch)
        return grouped | "Resolve" >> resolve.with_outputs(DROPS, *self.outputs, main="main")


class ReadFileDoFn(beam.DoFn):
    """One matched file through ``read_file(path)``; ``inputs`` counts files."""

    def __init__(self, name: str, read_file: Callable[[str], Iterable], batch_size: int | None):
        self.read_file, self.batch_size = read_file, batch_size
        self.counters = StageCounters(name)

    def process(self, metadata):
        self.counters.inputs.inc()
        return self.counters.route(self.read_file(metadata.path), self.batch_size)


class ReadFiles(beam.PTransform):
    """``pipeline | ReadFiles("read_x", patterns, read_file)``: the files the patterns match at run
    time, each read whole by one worker through the plain generator ``read_file(path)``.

    Outputs ``.main`` (records, or with ``batch_size`` :class:`RecordBatch` lists) and
    ``.drops``; a caller whose later work should spread out reshuffles afterwards.
    """

    def __init__(self, name: str, patterns: list[str], read_file: Callable[[str], Iterable], *,
                 batch_size: int | None = None,
                 empty_match: str = fileio.EmptyMatchTreatment.ALLOW_IF_WILDCARD):
        super().__init__(label=name)
        self.name, self.patterns, self.read_file = name, list(patterns), read_file
        self.batch_size, self.empty_match = batch_size, empty_match

    def expand(self, pbegin):
        read = beam.ParDo(ReadFileDoFn(self.name, self.read_file, self.batch_size))
        if self.batch_size is not None:
            read = read.with_output_types(RecordBatch)
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll(self.empty_match)
            | "Read" >> read.with_outputs(DROPS, main="main")
        )
