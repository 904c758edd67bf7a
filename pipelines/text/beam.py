"""Beam stages of the text and parallel streams: file reading, exact dedup and language
ID, over batches of records (the reader, group and model stages of
:mod:`babelshard.stage` and :mod:`babelshard.inference`). The per-record logic they
call lives in ``clean``, ``parallel_clean`` and the reader modules.
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
import pickle
import posixpath
from functools import partial
from typing import IO, Any, Callable, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from babelshard.inference import ModelStage, lid_handler, record_failure_drops
from babelshard.langid import LanguageIdConfig
from babelshard.pipelines.text.clean import keep_first_per_hash
from babelshard.pipelines.text.parallel_readers import moses_target_path
from babelshard.stage import GroupStage, ReadFiles, RecordBatch, StageCounters

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


def iter_lines(handle, block_size: int = 1 << 16) -> Iterator[bytes]:
    """A binary file's lines without their ``\n``, split from large blocks (faster than ``readline``)."""
    rest = b""
    while block := handle.read(block_size):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


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


def read_source_file(path: str, source: Any, reader: Callable, kind: str) -> Iterator[Any]:
    """One matched file of ``source`` through a plain reader function: ``kind`` is ``lines``
    (reader(lines, source, relname)), ``stream`` (reader(file, source, relname)) or
    ``moses`` (reader(source lines, target lines, source, relname))."""
    relname = relative_name(path, absolute_patterns(source.paths))
    with open_file(path) as handle:
        if kind == "moses":
            target = moses_target_path(path, source.source_language, source.target_language)
            with open_file(target) as target_handle:
                yield from reader(iter_lines(handle), iter_lines(target_handle), source, relname)
        else:
            yield from reader(handle if kind == "stream" else iter_lines(handle), source, relname)


def read_source(source: Any, reader: Callable, kind: str = "lines", batch_size: int | None = None) -> ReadFiles:
    """The reader stage of one source: its patterns matched at run time, each file read whole
    by one worker (compressed files cannot be split); ``.main`` holds :class:`RecordBatch`
    lists with ``batch_size``. The caller reshuffles so the cleaning work spreads out."""
    read_file = partial(read_source_file, source=source, reader=reader, kind=kind)
    return ReadFiles(f"read_{source.name}", absolute_patterns(source.paths), read_file, batch_size=batch_size)


def language_id_stage(name: str, lid: LanguageIdConfig, check_batch: Callable, stage: str) -> ModelStage:
    """``batches | language_id_stage(name, lid, check_batch, stage)``: language ID of batches of
    records, ``check_batch(records, model, lid)`` giving per record the record or a Drop.
    The model loads once per worker process (RunInference); a batch whose check raises
    becomes ``model_error`` drops of ``stage``."""
    handler = lid_handler(name, lid, partial(check_batch, lid=lid), prebatched=True)
    return ModelStage(name, handler, partial(record_failure_drops, stage))


# Records cross the dedup shuffle as plain tuples of their field values, pickled per
# bucket and batch: the runner then moves one bytes value per group instead of decoding
# and re-encoding every record (about 4 us per record on the DirectRunner, 0.5 us pickled).
row_key = operator.itemgetter(0)  # a row's record key


def row_getter(record_type: type) -> Callable[[Any], tuple]:
    """``record -> (key, other field values...)`` for a record dataclass whose first field is ``key``."""
    names = [field.name for field in dataclasses.fields(record_type)]
    if names[0] != "key":
        raise TypeError(f"{record_type.__name__}: dedup rows need `key` as the first field, got {names[0]!r}")
    return operator.attrgetter(*names)


class Spread(beam.PTransform):
    """``Reshuffle`` of batches, so work after a non-splittable file read spreads out."""

    def expand(self, batches):
        return batches | "Reshuffle" >> beam.Reshuffle().with_output_types(RecordBatch)


class BucketRowsDoFn(beam.DoFn):
    """Batches of records in, ``(bucket, [pickled [(hash, row), ...], ...])`` out; a row is
    the record's field values (:func:`row_getter`), the bucket the hash modulo ``buckets``.

    Each batch's rows are pickled per bucket at once (the runner then moves bytes, not
    records); the pickles gather per bucket across the batches of a bundle and leave
    when a bucket holds ``flush_rows`` rows or the bundle ends, because each shuffled
    element costs tens of microseconds on the DirectRunner. Waiting pickles are bytes,
    so the garbage collector does not walk them.
    """

    def __init__(self, name: str, key_fn: Callable[[Any], bytes], record_type: type, buckets: int, flush_rows: int):
        self.key_fn, self.buckets, self.flush_rows = key_fn, buckets, flush_rows
        self.to_row = row_getter(record_type)
        self.counters = StageCounters(name)
        self.pending: dict[int, list[bytes]] = {}
        self.pending_rows: dict[int, int] = {}

    def start_bundle(self):
        self.pending, self.pending_rows = {}, {}

    def process(self, batch: list):
        self.counters.inputs.inc(len(batch))
        key_fn, to_row, buckets = self.key_fn, self.to_row, self.buckets
        by_bucket: dict[int, list] = {}
        for record in batch:
            digest = key_fn(record)
            by_bucket.setdefault(int.from_bytes(digest[:8], "big") % buckets, []).append((digest, to_row(record)))
        for bucket, rows in by_bucket.items():
            self.pending.setdefault(bucket, []).append(pickle.dumps(rows, pickle.HIGHEST_PROTOCOL))
            self.pending_rows[bucket] = self.pending_rows.get(bucket, 0) + len(rows)
            if self.pending_rows[bucket] >= self.flush_rows:
                del self.pending_rows[bucket]
                yield bucket, self.pending.pop(bucket)

    def finish_bundle(self):
        for bucket, pickles in self.pending.items():
            yield GlobalWindows.windowed_value((bucket, pickles))
        self.pending, self.pending_rows = {}, {}


def keep_first_in_bucket(_bucket: int, pickle_lists: Iterable[list[bytes]], stage: str, record_type: type) -> list:
    """Per bucket, the smallest key of each duplicate group as a record; the rest as drops.

    A bucket's rows are held in memory while it is processed, so ``buckets`` should grow
    with the data (about a million lines per bucket is comfortable for a worker).
    """
    pairs: list = []
    for pickles in pickle_lists:
        for pickled in pickles:
            pairs.extend(pickle.loads(pickled))
    kept, drops = keep_first_per_hash(pairs, stage, row_key)
    del pairs
    drops.extend([record_type(*row) for row in kept])
    return drops


class DedupExact(GroupStage):
    """Exact dedup of batches of ``record_type`` records by a content hash; deterministic
    whatever the order. Drops have ``stage``; kept records leave in batches of ``batch_size``.

    Rows (the records' field values) travel grouped by ``hash mod buckets``
    (:class:`BucketRowsDoFn`), so the shuffle moves a few large elements instead of one
    per record.
    """

    def __init__(self, stage: str, key_fn: Callable[[Any], bytes], record_type: type, buckets: int, batch_size: int):
        row_getter(record_type)  # a record type the rows cannot carry fails here, not on a worker
        name = f"{stage}_dedup"
        super().__init__(
            name,
            partial(keep_first_in_bucket, stage=stage, record_type=record_type),
            pack=BucketRowsDoFn(name, key_fn, record_type, buckets, batch_size),
            batch_size=batch_size,
        )
