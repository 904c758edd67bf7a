"""``ReadCaptionSources``: every configured source read with a Beam file source.

Line formats (TSV, JSONL) use ``ReadFromText`` and parquet ``ReadFromParquet``, both
split within files, each line or row parsed by a per-record stage; whole-file formats
(CSV with quoted newlines, COCO and Karpathy JSON, Flickr token files) and Multi30K-style
aligned files (read together per source) go through the reader stage
(:class:`~babelshard.stage.ReadFiles`), one plain generator per matched file.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from babelshard.configbase import ConfigError
from babelshard.fs import filesystem
from babelshard.pipelines.captions.config import AlignedSource, TableSource
from babelshard.pipelines.captions.sources import (
    Parsed,
    parse_file,
    parse_jsonl_line,
    parse_tsv_line,
    read_aligned,
    table_row_to_record,
)
from babelshard.stage import ApplyStage, ReadFiles, StageOutputs


def parse_source_file(path: str, src: Any) -> Iterator[Parsed]:
    """A whole-file source's records (compression detected from the file name)."""
    with FileSystems.open(path) as handle:
        text = handle.read().decode("utf-8-sig")
    yield from parse_file(path, text, src)


def read_aligned_files(path: str, src: AlignedSource) -> Iterator[Parsed]:
    """An aligned source from its image list ``path`` and its caption files, read together."""
    yield from read_aligned(src)


def non_empty(line: str) -> bool:
    return bool(line.strip())


class ReadCaptionSource(beam.PTransform):
    """One source to its caption records and drops (``.main``, ``.drops``)."""

    def __init__(self, src: Any):
        super().__init__(label=f"Read[{src.name}]")
        self.src = src

    def expand(self, pbegin):
        src, name = self.src, f"read_{self.src.name}"
        if isinstance(src, TableSource) and src.format in ("tsv", "jsonl"):
            skip = 1 if src.format == "tsv" and src.header else 0
            parse = parse_tsv_line if src.format == "tsv" else parse_jsonl_line
            lines = pbegin | "Lines" >> beam.io.ReadFromText(src.path, skip_header_lines=skip)
            if src.format == "jsonl":
                lines = lines | "NonEmpty" >> beam.Filter(non_empty)
            return lines | "Parse" >> ApplyStage(name, partial(parse, src=src))
        if isinstance(src, TableSource) and src.format == "parquet":
            rows = pbegin | "Rows" >> beam.io.ReadFromParquet(src.path)
            return rows | "Parse" >> ApplyStage(name, partial(table_row_to_record, src=src))
        read_file = partial(read_aligned_files if isinstance(src, AlignedSource) else parse_source_file, src=src)
        return pbegin | "Files" >> ReadFiles(name, [src.path], read_file, empty_match=fileio.EmptyMatchTreatment.DISALLOW)


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
        parts = [pbegin | ReadCaptionSource(src) for src in self.sources]
        records = tuple(part.main for part in parts) | "MergeSources" >> beam.Flatten()
        drops = tuple(part.drops for part in parts) | "MergeDrops" >> beam.Flatten()
        return StageOutputs(records, drops)
