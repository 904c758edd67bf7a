"""``ReadCaptionSources``: every configured source read with a Beam file source.

Line formats (TSV, JSONL) use ``LineSource`` (bytes per line, decoded per row) and
parquet ``ReadFromParquet``, both split within files; whole-file formats (CSV with
quoted newlines, COCO and Karpathy JSON, Flickr token files) go through
``fileio.MatchFiles`` / ``ReadMatches`` and are parsed per file; Multi30K-style
aligned files are read together per source. Source files are checked when the
pipeline is built (``checks.check_source_files``). Drops of bad lines get their line
numbers in ``LocateLines``, one scan per file that has any.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import apache_beam as beam
from apache_beam.io import filebasedsource, fileio

from babelshard.configbase import ConfigError
from babelshard.pipelines.captions.checks import check_source_files
from babelshard.pipelines.captions.config import AlignedSource, TableSource
from babelshard.pipelines.captions.sources import (
    STAGE,
    Located,
    Parsed,
    locate,
    parse_file,
    parse_line,
    read_aligned,
    table_row_to_record,
)
from babelshard.pipelines.captions.textfiles import Line, line_numbers
from babelshard.stage import ApplyStage
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


def parse_matched_file(readable: Any, src: Any) -> Iterator[Parsed]:
    yield from parse_file(readable.metadata.path, readable.read(), src)


def number_lines(item: tuple[str, Iterable[tuple[int, Drop]]]) -> Iterator[Drop]:
    """The drops of one file's bad lines, each detail starting with its line number."""
    path, located = item
    located = list(located)
    numbers = line_numbers(path, (offset for offset, _ in located))
    for offset, drop in located:
        yield locate(drop, path, numbers[offset])


class LocateLines(beam.PTransform):
    """``Located`` drops to drops naming file and line; other items pass through."""

    def expand(self, items):
        located, parsed = items | "SplitLocated" >> beam.Partition(lambda item, _: 0 if isinstance(item, Located) else 1, 2)
        numbered = (
            located
            | "ByFile" >> beam.Map(lambda item: (item.path, (item.offset, item.drop)))
            | "GroupByFile" >> beam.GroupByKey()
            | "NumberLines" >> beam.FlatMap(number_lines)
        )
        return (parsed, numbered) | "Merge" >> beam.Flatten()


def pass_through(record: Parsed) -> Parsed:
    return record


class ReadSource(beam.PTransform):
    """One source to a PCollection of caption records and drops (not yet split)."""

    def __init__(self, src: Any):
        super().__init__(label=f"Read[{src.name}]")
        self.src = src

    def expand(self, pbegin):
        src = self.src
        if isinstance(src, TableSource) and src.format in ("tsv", "jsonl"):
            lines = pbegin | "Lines" >> beam.io.Read(LineSource(src.path))
            return lines | "Parse" >> beam.FlatMap(parse_line, src) | "LocateLines" >> LocateLines()
        if isinstance(src, TableSource) and src.format == "parquet":
            rows = pbegin | "Rows" >> beam.io.ReadFromParquet(src.path)
            return rows | "Parse" >> beam.Map(table_row_to_record, src)
        if isinstance(src, AlignedSource):
            # One element naming the source; the DoFn reads its files (they must be read together).
            return pbegin | "Source" >> beam.Create([src]) | "Parse" >> beam.FlatMap(read_aligned)
        files = (
            pbegin
            | "Match" >> fileio.MatchFiles(src.path, empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
            | "Open" >> fileio.ReadMatches()
        )
        return files | "Parse" >> beam.FlatMap(parse_matched_file, src)


class ReadCaptionSources(beam.PTransform):
    """All sources, flattened; the result has ``.main`` (records) and ``.drops``."""

    def __init__(self, sources: list[Any]):
        super().__init__()
        self.sources = list(sources)

    def expand(self, pbegin):
        if not self.sources:
            raise ConfigError("captions.sources is empty: name at least one caption source")
        check_source_files(self.sources)
        parts = [pbegin | ReadSource(src) for src in self.sources]
        merged = tuple(parts) | "MergeSources" >> beam.Flatten()
        return merged | "Split" >> ApplyStage(STAGE, pass_through)
