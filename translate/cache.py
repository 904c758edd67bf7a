"""The translation cache: keys, the persistent parquet store, and a plain-Python memo.

A key is (engine, model id, source, target, cleaned text). Inside a Beam run duplicates
meet in one group and are translated once; across runs, translations live in parquet
files under ``<url>/<engine>/<model>/<src>-<tgt>/part-<digest>.parquet``, written once
and never rewritten, so a rerun that adds a language only translates that language.
Texts are cleaned (NFC, whitespace) but not case-folded: case changes a translation.
"""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import asdict, dataclass
from typing import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from babelshard.fs import filesystem, join, write_bytes_atomic
from babelshard.textnorm import clean_text
from babelshard.translate.engines import Translation

CACHE_SCHEMA = pa.schema(
    [("key", pa.string()), ("source_text", pa.string()), ("text", pa.string()), ("score", pa.float64()),
     ("engine", pa.string()), ("model", pa.string()), ("source_language", pa.string()), ("target_language", pa.string())]
)


@dataclass(frozen=True)
class CacheEntry:
    """A translation as stored: enough to rebuild the caption without the engine."""

    key: str
    source_text: str
    text: str
    score: float | None
    engine: str
    model: str
    source_language: str
    target_language: str


def cache_key(engine: str, model: str, source: str, target: str, text: str) -> str:
    identity = "\x1f".join((engine, model, source, target, clean_text(text)))
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", name).strip("_") or "_"


def pair_folder(url: str, engine: str, model: str, source: str, target: str) -> str:
    return join(url, safe_name(engine), safe_name(model), f"{safe_name(source)}-{safe_name(target)}")


def list_cache_files(url: str, engine: str, model: str, source: str, target: str) -> list[str]:
    fs, path = filesystem(pair_folder(url, engine, model, source, target))
    if not fs.exists(path):
        return []
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    prefix = "" if protocol in ("file", "local") else f"{protocol}://"
    return sorted(prefix + name for name in fs.ls(path, detail=False) if name.endswith(".parquet"))


def read_cache_file(url: str) -> Iterator[CacheEntry]:
    fs, path = filesystem(url)
    with fs.open(path, "rb") as handle:
        table = pq.read_table(handle, schema=CACHE_SCHEMA)
    for row in table.to_pylist():
        yield CacheEntry(**row)


def encode_cache_file(entries: Sequence[CacheEntry]) -> tuple[str, bytes]:
    """(file name, parquet bytes); the name is a digest of the keys, so a retry rewrites the same file."""
    ordered = sorted(entries, key=lambda entry: entry.key)
    digest = hashlib.sha256("\n".join(entry.key for entry in ordered).encode()).hexdigest()[:20]
    table = pa.Table.from_pylist([asdict(entry) for entry in ordered], schema=CACHE_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return f"part-{digest}.parquet", buffer.getvalue()


def write_cache_file(url: str, entries: Sequence[CacheEntry]) -> str:
    first = entries[0]
    name, data = encode_cache_file(entries)
    path = join(pair_folder(url, first.engine, first.model, first.source_language, first.target_language), name)
    write_bytes_atomic(path, data)
    return path


class MemoTranslator:
    """Plain-Python translation with the same memo and persistent cache as the Beam path.

    ``translate(texts, src, tgt)`` calls the engine once per distinct cleaned text not
    already cached; ``flush()`` writes what was translated to the persistent cache.
    """

    def __init__(self, engine, engine_kind: str, model: str, url: str | None = None):
        self.engine, self.engine_kind, self.model, self.url = engine, engine_kind, model, url
        self.memo: dict[str, CacheEntry] = {}
        self.fresh: list[CacheEntry] = []
        self.loaded: set[tuple[str, str]] = set()
        self.translated = 0

    def _load(self, source: str, target: str) -> None:
        if self.url is None or (source, target) in self.loaded:
            return
        self.loaded.add((source, target))
        for file in list_cache_files(self.url, self.engine_kind, self.model, source, target):
            self.memo.update((entry.key, entry) for entry in read_cache_file(file))

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[CacheEntry]:
        self._load(source, target)
        keys = [cache_key(self.engine_kind, self.model, source, target, text) for text in texts]
        missing = {key: clean_text(text) for key, text in zip(keys, texts) if key not in self.memo}
        if missing:
            results = self.engine.translate(list(missing.values()), source, target)
            self.translated += len(results)
            for (key, text), result in zip(missing.items(), results):
                entry = entry_from(key, text, result, self.engine_kind, self.model, source, target)
                self.memo[key] = entry
                self.fresh.append(entry)
        return [self.memo[key] for key in keys]

    def flush(self) -> list[str]:
        written = [write_cache_file(self.url, group) for group in group_by_pair(self.fresh)] if self.url else []
        self.fresh = []
        return written


def entry_from(key: str, source_text: str, result: Translation, engine: str, model: str, source: str, target: str) -> CacheEntry:
    return CacheEntry(key, source_text, result.text, result.score, engine, model, source, target)


def group_by_pair(entries: Iterable[CacheEntry]) -> list[list[CacheEntry]]:
    groups: dict[tuple[str, str, str, str], list[CacheEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.engine, entry.model, entry.source_language, entry.target_language), []).append(entry)
    return [groups[pair] for pair in sorted(groups)]

