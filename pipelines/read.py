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

from babelshard.pipelines.config import AlignedSource, TableSource
from babelshard.pipelines.sources import (
    STAGE,
    Parsed,
    parse_file,
    parse_jsonl_line,
    parse_tsv_line,
    read_aligned,
    table_row_to_record,
)
from babelshard.pipelines.stage import ApplyStage


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


class ReadCaptionSources(beam.PTransform):
    """All sources, flattened; the result has ``.main`` (records) and ``.drops``."""

    def __init__(self, sources: list[Any]):
        super().__init__()
        self.sources = list(sources)

    def expand(self, pbegin):
        if not self.sources:
            raise ValueError("no caption sources configured (captions.sources is empty)")
        parts = [pbegin | ReadSource(src) for src in self.sources]
        merged = tuple(parts) | "MergeSources" >> beam.Flatten()
        return merged | "Split" >> ApplyStage(STAGE, pass_through)
