"""Checks of caption source files when the job is built, before any worker starts.

Each is a one-line error naming the config key or the file: a path that matches
nothing, a text file that is not UTF-8 text at all (UTF-16, UTF-32, binary), a
``.parquet`` that is not parquet, and a parquet schema that does not fit the config
(a missing column, a column of the wrong type, a list column without
``caption_lists``). Globs with many files are checked on their first
``MAX_CHECKED_FILES``; every file is still read with the same rules row by row.
"""
from __future__ import annotations

from typing import Any, Iterator

from babelshard.configbase import ConfigError
from babelshard.fs import filesystem
from babelshard.pipelines.captions.config import AlignedSource, TableSource
from babelshard.pipelines.captions.sources import SourceFileError
from babelshard.pipelines.captions.textfiles import read_head, text_problem

MAX_CHECKED_FILES = 64


def source_paths(index: int, src: Any) -> Iterator[tuple[str, str]]:
    """(config key, path or glob) of every file a source reads."""
    yield f"captions.sources.{index}.path", src.path
    if isinstance(src, AlignedSource):
        for lang, path in sorted(src.captions.items()):
            yield f"captions.sources.{index}.captions.{lang}", path


def matching_files(key: str, pattern: str) -> list[str]:
    """The files ``pattern`` names (sorted, as URLs with the pattern's protocol)."""
    fs, inner = filesystem(pattern)
    if any(ch in inner for ch in "*?["):
        found = sorted(fs.glob(inner))
    else:
        found = [inner] if fs.exists(inner) else []
    if not found:
        raise ConfigError(f"{key}: no file matches {pattern}")
    protocol = pattern.split("://", 1)[0] + "://" if "://" in pattern else ""
    return [path if path.startswith(protocol) else protocol + path for path in found]


def check_source_files(sources: list[Any]) -> None:
    """Every configured source file exists and can be read as its format."""
    for index, src in enumerate(sources):
        for key, pattern in source_paths(index, src):
            files = matching_files(key, pattern)[:MAX_CHECKED_FILES]
            if isinstance(src, TableSource) and src.format == "parquet":
                for path in files:
                    check_parquet_schema(path, src, f"captions.sources.{index}")
            else:
                for path in files:
                    check_text_file(path, src)


def check_text_file(path: str, src: Any) -> None:
    problem = text_problem(read_head(path))
    if problem is not None:
        raise SourceFileError(f"source {src.name}: {path} is not UTF-8 text: it looks like {problem}; convert it to UTF-8")


def read_parquet_schema(path: str, src: Any):
    import pyarrow
    import pyarrow.parquet as pq

    fs, inner = filesystem(path)
    try:
        with fs.open(inner, "rb") as handle:
            return pq.read_schema(handle)
    except (pyarrow.ArrowInvalid, OSError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SourceFileError(f"source {src.name}: {path} is not a parquet file ({first_line})") from None


def check_parquet_schema(path: str, src: TableSource, key: str) -> None:
    schema = read_parquet_schema(path, src)
    for setting, column in table_columns(src):
        if column not in schema.names:
            raise ConfigError(
                f"{key}.{setting}: column {column!r} is not in {path} (its columns: {', '.join(schema.names)})"
            )
        problem = column_type_problem(schema.field(column).type, setting, src)
        if problem:
            raise ConfigError(f"{key}.{setting}: column {column!r} of {path} is {schema.field(column).type}; {problem}")


def table_columns(src: TableSource) -> Iterator[tuple[str, str]]:
    """(config key below the source, column) of every column the config requires."""
    yield "url_column", src.url_column
    yield "caption_column", src.caption_column
    for lang, column in sorted(src.language_columns.items()):
        yield f"language_columns.{lang}", column
    if src.key_column:
        yield "key_column", src.key_column
    if src.hash_column:
        yield "hash_column", src.hash_column


def column_type_problem(kind: Any, setting: str, src: TableSource) -> str | None:
    """Why a column of this arrow type cannot serve ``setting``, or None."""
    import pyarrow.types as types

    def text(value_type) -> bool:
        if types.is_dictionary(value_type):
            return text(value_type.value_type)
        return any(check(value_type) for check in (types.is_string, types.is_large_string, types.is_binary, types.is_large_binary))

    captions = setting == "caption_column" or setting.startswith("language_columns.")
    if captions and (types.is_list(kind) or types.is_large_list(kind)):
        if not src.caption_lists:
            return "set caption_lists: true to read one caption per item"
        return None if text(kind.value_type) else "expected a list of strings"
    if setting == "key_column" and (types.is_integer(kind) or text(kind)):
        return None
    return None if text(kind) else "expected a string column"
