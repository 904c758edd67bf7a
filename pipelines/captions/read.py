"""``ReadCaptionSources``: every configured source read with a Beam file source.

Line formats (TSV, JSONL) use ``ReadFromText`` and parquet ``ReadFromParquet``, both
split within files; whole-file formats (CSV with quoted newlines, COCO and Karpathy
JSON, Flickr token files) go through ``fileio.MatchFiles`` / ``ReadMatches`` and are
parsed per file; Multi30K-style aligned files are read together per source.
"""
from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam
from apache_beam.io import fileio

from babelshard.configbase import ConfigError
from babelshard.fs import filesystem
from babelshard.pipelines.captions.config import AlignedSource, TableSource
from babelshard.pipelines.captions.sources import (
    STAGE,
    Parsed,
    parse_file,
    parse_jsonl_line,
    parse_tsv_line,
    read_aligned,
    table_row_to_record,
)
from babelshard.stage import ApplyStage


def parse_matched_file(readable: Any, src: Any) -> Iterator[Parsed]:
    text = readable.read().decode("utf-8-sig")
    yield from parse_file(readable.metadata.path, text, src)


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
            skip = 1 if src.format == "tsv" and src.header else 0
            parse = parse_tsv_line if src.format == "tsv" else parse_jsonl_line
            lines = pbegin | "Lines" >> beam.io.ReadFromText(src.path, skip_header_lines=skip)
            if src.format == "jsonl":
                lines = lines | "NonEmpty" >> beam.Filter(lambda line: bool(line.strip()))
            return lines | "Parse" >> beam.Map(parse, src)
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


def source_paths(index: int, src: Any) -> Iterator[tuple[str, str]]:
    """(config key, path or glob) of every file a source reads."""
    yield f"captions.sources.{index}.path", src.path
    if isinstance(src, AlignedSource):
        for lang, path in sorted(src.captions.items()):
            yield f"captions.sources.{index}.captions.{lang}", path


def check_source_files(sources: list[Any]) -> None:
    """A clear ConfigError, naming the key, for a source path that matches no file.
    Stores whose fsspec driver is not installed are left to Beam's own check."""
    for index, src in enumerate(sources):
        for key, path in source_paths(index, src):
            try:
                fs, inner = filesystem(path)
                found = fs.glob(inner) if any(ch in inner for ch in "*?[") else fs.exists(inner)
            except ImportError:
                continue
            if not found:
                raise ConfigError(f"{key}: no file matches {path}")


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
