"""The one normalized lexicon format: a parquet file of scored term pairs.

Columns: ``source_language``, ``source_term``, ``target_language``, ``target_term``,
``score`` (higher is better; what it sums depends on the origin) and ``origin``
(e.g. ``freedict:eng-deu``, ``panlex``, ``muse:en-de.txt``, ``cldr:emoji``). Terms
keep their dictionary spelling; lookups case-fold. The import statistics (pairs, skips
by reason) travel in the file's key-value metadata under ``babelshard.import``.

:func:`read_lexicon` and :func:`load_lexicon_pairs` are the reading API other
packages use (the vocabulary's cross-lingual alignment reads pairs from here).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from babelshard import fs
from babelshard.stats import StageStats
from babelshard.errors import UserError

LEXICON_SCHEMA = pa.schema(
    [
        ("source_language", pa.string()),
        ("source_term", pa.string()),
        ("target_language", pa.string()),
        ("target_term", pa.string()),
        ("score", pa.float64()),
        ("origin", pa.string()),
    ]
)
META_KEY = b"babelshard.import"
FORMAT_VERSION = 1


class LexiconError(UserError):
    """A lexicon source that cannot be read: missing, empty, malformed as a whole."""


@dataclass(frozen=True)
class Pair:
    source_language: str
    source_term: str
    target_language: str
    target_term: str
    score: float
    origin: str


def pairs_to_table(pairs: Iterable[Pair]) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in LEXICON_SCHEMA.names}
    for pair in pairs:
        for name in LEXICON_SCHEMA.names:
            columns[name].append(getattr(pair, name))
    return pa.table(columns, schema=LEXICON_SCHEMA)


def aggregate_pairs(table: pa.Table) -> pa.Table:
    """One row per (languages, terms, origin), scores summed; sorted for byte-stable files."""
    if table.num_rows == 0:
        return table.cast(LEXICON_SCHEMA)
    keys = ["source_language", "source_term", "target_language", "target_term", "origin"]
    grouped = table.group_by(keys, use_threads=False).aggregate([("score", "sum")])
    grouped = grouped.rename_columns(keys + ["score"]).select(LEXICON_SCHEMA.names)
    order = [(name, "ascending") for name in ("source_language", "target_language", "source_term", "target_term", "origin")]
    return grouped.sort_by(order).cast(LEXICON_SCHEMA)


class LexiconWriter:
    """Writes tables of pairs into one parquet file; the import stats go in at close."""

    def __init__(self, url: str):
        self.url = url
        fs_, path = fs.filesystem(url)
        if fs.is_local(fs_):
            import os

            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._handle = fs_.open(path, "wb")
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._handle, LEXICON_SCHEMA, compression="zstd")
        if table.num_rows:
            self._writer.write_table(table.cast(LEXICON_SCHEMA))
            self.rows += table.num_rows

    def close(self, stats: StageStats) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._handle, LEXICON_SCHEMA, compression="zstd")
        meta = {"format_version": FORMAT_VERSION, "stats": stats.as_json()}
        self._writer.add_key_value_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode("utf-8")})
        self._writer.close()
        self._handle.close()


def write_lexicon(table: pa.Table, url: str, stats: StageStats | None = None) -> None:
    writer = LexiconWriter(url)
    writer.write(table)
    writer.close(stats or StageStats(inputs=table.num_rows, outputs=table.num_rows))


def _open_parquet(url: str) -> pq.ParquetFile:
    if not fs.exists(url):
        raise FileNotFoundError(f"lexicon not found: {url}")
    fs_, path = fs.filesystem(url)
    try:
        parquet = pq.ParquetFile(fs_.open(path, "rb"))
    except pa.ArrowInvalid as error:
        raise LexiconError(f"{url}: not a parquet lexicon ({error})") from None
    missing = set(LEXICON_SCHEMA.names) - set(parquet.schema_arrow.names)
    if missing:
        raise LexiconError(f"{url}: not a babelshard lexicon, missing columns {sorted(missing)}")
    return parquet


def read_lexicon(url: str, target_languages: Iterable[str] | None = None, source_language: str | None = None) -> pa.Table:
    """The whole lexicon (optionally only some languages) as a pyarrow Table."""
    table = _open_parquet(url).read(columns=LEXICON_SCHEMA.names).cast(LEXICON_SCHEMA)
    mask = None
    if target_languages is not None:
        mask = pc.is_in(table["target_language"], pa.array(sorted(set(target_languages)), pa.string()))
    if source_language is not None:
        same = pc.equal(table["source_language"], source_language)
        mask = same if mask is None else pc.and_(mask, same)
    return table if mask is None else table.filter(mask)


def load_lexicon_pairs(url: str, target_language: str, source_language: str = "en", single_words: bool = False) -> list[tuple[str, str, float]]:
    """``[(source_term, target_term, score), ...]`` for one language pair, best score first per term.

    ``single_words`` keeps only pairs where both sides are one word of the shared
    tokenization (what a word-vector alignment wants).
    """
    from babelshard.textnorm import tokenize_words

    table = read_lexicon(url, [target_language], source_language)
    table = table.sort_by([("source_term", "ascending"), ("score", "descending"), ("target_term", "ascending")])
    rows = zip(table["source_term"].to_pylist(), table["target_term"].to_pylist(), table["score"].to_pylist())
    if not single_words:
        return [(s, t, float(v)) for s, t, v in rows]
    return [(s, t, float(v)) for s, t, v in rows if len(tokenize_words(s)) == 1 and len(tokenize_words(t)) == 1]


def iter_lexicon_batches(url: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    yield from _open_parquet(url).iter_batches(batch_size=batch_rows, columns=LEXICON_SCHEMA.names)


def import_metadata(url: str) -> dict:
    """The import statistics stored in the file (empty for files written elsewhere)."""
    meta = _open_parquet(url).metadata.metadata or {}
    return json.loads(meta[META_KEY]) if META_KEY in meta else {}


def lexicon_stats(url: str) -> pa.Table:
    """Per (source language, target language, origin): pairs, distinct source terms, multi-word share."""
    table = read_lexicon(url)
    multi = pc.match_substring(table["source_term"], " ")
    table = table.append_column("multi_word", pc.cast(multi, pa.int64()))
    keys = ["source_language", "target_language", "origin"]
    stats = table.group_by(keys, use_threads=False).aggregate(
        [("source_term", "count"), ("source_term", "count_distinct"), ("multi_word", "sum"), ("score", "mean")]
    )
    stats = stats.rename_columns(keys + ["pairs", "source_terms", "multi_word_pairs", "mean_score"])
    return stats.sort_by([("source_language", "ascending"), ("target_language", "ascending"), ("origin", "ascending")])
