"""Beam wrappers of the text and parallel stages: file reading, language ID through
``RunInference`` and exact dedup. The per-record logic they call lives in
``text_clean``, ``parallel_clean`` and the reader modules.
"""
from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import io
import lzma
import operator
import os
import posixpath
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from babelshard.langid import load_lid_model, predict_languages
from babelshard.pipelines.stage import DROPS
from babelshard.pipelines.parallel_readers import moses_target_path
from babelshard.records import ParallelPair, TextSample
from babelshard.stats import Drop

_GLOB_CHARS = "*?["


def glob_base(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard."""
    cut = min([pattern.index(c) for c in _GLOB_CHARS if c in pattern] or [len(pattern)])
    head = pattern[:cut]
    return head if cut < len(pattern) and head.endswith("/") else posixpath.dirname(head) + "/"


def relative_name(path: str, patterns: Sequence[str]) -> str:
    """A file's name relative to the pattern that found it, so keys survive moving the data."""
    for pattern in patterns:
        base = glob_base(pattern)
        if path.startswith(base):
            return path[len(base):]
    return posixpath.basename(path)


def absolute_patterns(paths: Sequence[str]) -> list[str]:
    """Local patterns made absolute, as Beam's matcher reports local files."""
    return [p if "://" in p else os.path.abspath(p) for p in paths]


def iter_lines(handle) -> Iterable[bytes]:
    return iter(handle.readline, b"")


@contextlib.contextmanager
def open_file(path: str) -> Iterator[IO[bytes]]:
    """A binary reader over any Beam file system, decompressed by suffix.

    Beam opens the raw bytes; Python's own gzip/lzma/bz2 readers (and zstandard's)
    decompress, because their ``readline`` runs in C while Beam's decompressing file
    splits lines in Python.
    """
    raw = FileSystems.open(path, mime_type="application/octet-stream", compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        with decompressed(raw, path) as handle:
            yield handle
    finally:
        raw.close()


def decompressed(raw: IO[bytes], path: str) -> IO[bytes]:
    kind = CompressionTypes.detect_compression_type(path)
    if kind == CompressionTypes.GZIP:
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == CompressionTypes.LZMA:
        return lzma.LZMAFile(raw, mode="rb")
    if kind == CompressionTypes.BZIP2:
        return bz2.BZ2File(raw, mode="rb")
    if kind == CompressionTypes.ZSTD:
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=False))
    if kind == CompressionTypes.DEFLATE:
        return FileSystems.open(path, mime_type="application/octet-stream", compression_type=kind)
    return contextlib.nullcontext(raw)


class ReadFileDoFn(beam.DoFn):
    """Streams one matched file through a plain reader function; drops go to ``drops``.

    ``kind`` is ``lines`` (reader(lines, source, relname)), ``stream`` (reader(file,
    source, relname)) or ``moses`` (reader(source lines, target lines, source, relname)).
    """

    def __init__(self, source: Any, reader: Callable, kind: str = "lines"):
        self.source, self.reader, self.kind = source, reader, kind
        self.files = Metrics.counter(f"read_{source.name}", "files")
        self.records = Metrics.counter(f"read_{source.name}", "records")

    def process(self, readable: fileio.ReadableFile):
        path = readable.metadata.path
        relname = relative_name(path, absolute_patterns(self.source.paths))
        self.files.inc()
        with open_file(path) as handle:
            if self.kind == "moses":
                target = moses_target_path(path, self.source.source_language, self.source.target_language)
                with open_file(target) as target_handle:
                    items = self.reader(iter_lines(handle), iter_lines(target_handle), self.source, relname)
                    yield from self._route(items)
            else:
                items = self.reader(handle if self.kind == "stream" else iter_lines(handle), self.source, relname)
                yield from self._route(items)

    def _route(self, items):
        count = 0
        for item in items:
            count += 1
            if isinstance(item, Drop):
                Metrics.counter(f"read_{self.source.name}", f"dropped/{item.reason}").inc()
                yield pvalue.TaggedOutput(DROPS, item)
            else:
                yield item
        self.records.inc(count)  # once per file: a per-record increment costs as much as the parsing


class ReadSource(beam.PTransform):
    """Match a source's patterns at run time and read every file (outputs ``main`` and ``drops``).

    Files are read whole by one worker each (compressed files cannot be split); the
    caller reshuffles afterwards so the cleaning work spreads out.
    """

    def __init__(self, source: Any, reader: Callable, kind: str = "lines"):
        super().__init__()
        self.source, self.reader, self.kind = source, reader, kind

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(absolute_patterns(self.source.paths))
            | "Match" >> fileio.MatchAll()
            | "Open" >> fileio.ReadMatches()
            | "Parse" >> beam.ParDo(ReadFileDoFn(self.source, self.reader, self.kind)).with_outputs(DROPS, main="main")
        )


def texts_of_sample(record) -> list[str]:
    return [record.text]


def texts_of_pair(pair) -> list[str]:
    return [pair.source_text, pair.target_text]


class FastTextLidHandler(ModelHandler):
    """fastText language ID for ``RunInference``: one fastText call per batch; the model
    is loaded once per worker process. The inference is a tuple of ``(label, score)``,
    one per text ``texts_of(record)`` returns."""

    def __init__(self, model_path: str | None, texts_of: Callable[[Any], list[str]], max_batch_size: int = 1000):
        super().__init__(min_batch_size=min(100, max_batch_size), max_batch_size=max_batch_size)
        self.model_path, self.texts_of = model_path, texts_of

    def load_model(self):
        return load_lid_model(self.model_path)

    def run_inference(self, batch: Sequence[Any], model, inference_args=None) -> Iterable[PredictionResult]:
        texts_per_record = [self.texts_of(record) for record in batch]
        flat = [text for texts in texts_per_record for text in texts]
        predictions = iter(predict_languages(model, flat))
        for record, texts in zip(batch, texts_per_record):
            yield PredictionResult(record, tuple(next(predictions) for _ in texts))

    def get_metrics_namespace(self) -> str:
        return "fasttext_lid"


class LanguageId(beam.PTransform):
    """``records | LanguageId(lid_config, texts_of)`` gives ``PredictionResult(record, predictions)``."""

    def __init__(self, lid: Any, texts_of: Callable[[Any], list[str]]):
        super().__init__()
        self.lid, self.texts_of = lid, texts_of

    def expand(self, records):
        handler = FastTextLidHandler(self.lid.model_path, self.texts_of, self.lid.max_batch_size)
        return records | "FastText" >> RunInference(handler)


# Records cross a shuffle as plain tuples: Beam's fallback (pickle) coder spends about
# 17 us per dataclass encode + decode, a tuple of strings about 6 us, and is 40% smaller.
_ROW_TYPES = {cls.__name__: cls for cls in (TextSample, ParallelPair)}
_ROW_FIELDS = {cls: operator.attrgetter(*(f.name for f in dataclasses.fields(cls))) for cls in _ROW_TYPES.values()}


def to_row(record: Any) -> tuple:
    """A record as ``(type name, field values...)`` for a cheap shuffle."""
    return (type(record).__name__, *_ROW_FIELDS[type(record)](record))


def from_row(row: tuple) -> Any:
    return _ROW_TYPES[row[0]](*row[1:])


def keyed_by(record: Any, key_fn: Callable[[Any], bytes]) -> tuple[bytes, tuple]:
    return key_fn(record), to_row(record)


class Spread(beam.PTransform):
    """``Reshuffle`` of records (as rows), so work after a non-splittable file read spreads out."""

    def expand(self, records):
        return records | "ToRow" >> beam.Map(to_row) | "Reshuffle" >> beam.Reshuffle() | "FromRow" >> beam.Map(from_row)


class KeepFirstDoFn(beam.DoFn):
    """Keep the smallest key of a duplicate group (``keep_first_by_key``); the rest are drops."""

    def __init__(self, stage: str, keep_first: Callable[[Iterable, str], Iterable]):
        self.stage, self.keep_first = stage, keep_first
        self.duplicates = Metrics.counter(stage, "dropped/duplicate")

    def process(self, element):
        _, rows = element
        for item in self.keep_first((from_row(row) for row in rows), self.stage):
            if isinstance(item, Drop):
                self.duplicates.inc()
                yield pvalue.TaggedOutput(DROPS, item)
            else:
                yield item


class DedupExact(beam.PTransform):
    """Exact dedup by a content hash; deterministic whatever the order records arrive in."""

    def __init__(self, stage: str, key_fn: Callable[[Any], bytes], keep_first: Callable[[Iterable, str], Iterable]):
        super().__init__()
        self.stage, self.key_fn, self.keep_first = stage, key_fn, keep_first

    def expand(self, records):
        return (
            records
            | "HashText" >> beam.Map(keyed_by, self.key_fn)
            | "GroupByText" >> beam.GroupByKey()
            | "KeepFirst" >> beam.ParDo(KeepFirstDoFn(self.stage, self.keep_first)).with_outputs(DROPS, main="main")
        )
