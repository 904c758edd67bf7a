"""``ReadCaptionSources``: every configured source read with a Beam file source.

Line formats (TSV, JSONL) use ``LineSource`` (bytes per line, decoded per row) and
parquet ``ReadFromParquet``, both split within files, each line or row parsed by a
per-record stage; whole-file formats (CSV with quoted newlines, COCO and Karpathy JSON,
Flickr token files) and Multi30K-style aligned files (read together per source) go
through the reader stage (:class:`~babelshard.stage.ReadFiles`), one plain generator per
matched file. Source files are checked when the pipeline is built
(``checks.check_source_files``). Drops of bad lines get their line numbers in
``LocateLines``, one scan per file that has any.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io import filebasedsource, fileio
from apache_beam.io.filesystems import FileSystems

from babelshard.configbase import ConfigError
from babelshard.pipelines.captions.checks import check_source_files
from babelshard.pipelines.captions.config import AlignedSource, TableSource
from babelshard.pipelines.captions.sources import (
    Located,
    Parsed,
    locate,
    parse_file,
    parse_line,
    read_aligned,
    table_row_to_record,
)
from babelshard.pipelines.captions.textfiles import Line, line_numbers
from babelshard.stage import ApplyStage, GroupStage, ReadFiles, StageOutputs
from babelshard.stats import Drop


class LineSource(filebasedsource.FileBasedSource):
    """Lines of every file matching a glob as :class:`Line` (split by byte ranges;
    compressed files, named by their extension, are read whole)."""

    def read_records(self, file_name: str, range_tracker) -> Iterator[Line]:
        start = range_tracker.start_position()
        with self.open_file(file_name) as handle:
            position = 0
            if start > 0:
                # The line that straddles ``start`` belongs to the previous range.
                handle.seek(start - 1)
                position = start - 1 + len(handle.readline())
            while range_tracker.try_claim(position):
                raw = handle.readline()
                if not raw:
                    return
                yield Line(file_name, position, raw.rstrip(b"\n").rstrip(b"\r"))
                position += len(raw)


def parse_source_file(path: str, src: Any) -> Iterator[Parsed]:
    """A whole-file source's records (compression detected from the file name)."""
    with FileSystems.open(path) as handle:
        data = handle.read()
    yield from parse_file(path, data, src)


def read_aligned_files(path: str, src: AlignedSource) -> Iterator[Parsed]:
    """An aligned source from its image list ``path`` and its caption files, read together."""
    yield from read_aligned(src)


def number_lines(path: str, located: Iterable[Located]) -> Iterator[Drop]:
    """The drops of one file's bad lines, each detail starting with its line number."""
    located = list(located)
    numbers = line_numbers(path, (item.offset for item in located))
    for item in located:
        yield locate(item.drop, path, numbers[item.offset])


def located_path(item: Located) -> str:
    return item.path


def split_located(item: Any, _count: int) -> int:
    return 0 if isinstance(item, Located) else 1


class LocateLines(beam.PTransform):
    """``Located`` items to drops naming file and line (a group stage per file); other
    items pass through. Outputs ``.main`` (the other items) and ``.drops``."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def expand(self, items):
        located, parsed = items | "SplitLocated" >> beam.Partition(split_located, 2)
        numbered = located | "NumberLines" >> GroupStage(self.name, number_lines, key=located_path)
        return StageOutputs(parsed, numbered.drops)


class ReadCaptionSource(beam.PTransform):
    """One source to its caption records and drops (``.main``, ``.drops``).

    Line formats count in two stages: ``read_<source>`` (lines in; records, drops and
    lines still to be numbered out) and ``read_<source>_lines`` (those lines, all drops)."""

    def __init__(self, src: Any):
        super().__init__(label=f"Read[{src.name}]")
        self.src = src

    def expand(self, pbegin):
        src, name = self.src, f"read_{self.src.name}"
        if isinstance(src, TableSource) and src.format in ("tsv", "jsonl"):
            lines = pbegin | "Lines" >> beam.io.Read(LineSource(src.path))
            parsed = lines | "Parse" >> ApplyStage(name, partial(parse_line, src=src))
            numbered = parsed.main | "LocateLines" >> LocateLines(f"{name}_lines")
            drops = (parsed.drops, numbered.drops) | "MergeDrops" >> beam.Flatten()
            return StageOutputs(numbered.main, drops)
        if isinstance(src, TableSource) and src.format == "parquet":
            rows = pbegin | "Rows" >> beam.io.ReadFromParquet(src.path)
            return rows | "Parse" >> ApplyStage(name, partial(table_row_to_record, src=src))
        read_file = partial(read_aligned_files if isinstance(src, AlignedSource) else parse_source_file, src=src)
        return pbegin | "Files" >> ReadFiles(name, [src.path], read_file, empty_match=fileio.EmptyMatchTreatment.DISALLOW)


class ReadCaptionSources(beam.PTransform):
    """All sources, flattened; the result has ``.main`` (records) and ``.drops``."""

    def __init__(self, sources: list[Any]):
        super().__init__()
        self.sources = list(sources)

    def expand(self, pbegin):
        if not self.sources:
            raise ConfigError("captions.sources is empty: name at least one caption source")
        check_source_files(self.sources)
        parts = [pbegin | ReadCaptionSource(src) for src in self.sources]
        records = tuple(part.main for part in parts) | "MergeSources" >> beam.Flatten()
        drops = tuple(part.drops for part in parts) | "MergeDrops" >> beam.Flatten()
        return StageOutputs(records, drops)
