"""Token counts per language over caption and text shards.

Plain functions give the words of one record; :class:`CountTokens` is the Beam
transform (a per-record stage + ``CombinePerKey(sum)``) and :func:`count_tokens` the same in
plain Python for small inputs and tests. Every caption language counts, human and
machine-translated alike; ``extra_captions`` (kept for evaluation) do not.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from babelshard.errors import UserError
from babelshard.fs import exists, filesystem, join, read_text, write_bytes_atomic
from babelshard.records import CaptionSample, ParallelPair, TextSample
from babelshard.textnorm import clean_text, is_word, tokenize_words
from babelshard.vocab.config import CountsConfig

DEFAULT_COUNTS = CountsConfig()

COUNTS_FOLDER = "counts"


class VocabError(UserError):
    """Inputs the vocabulary build cannot use; the message says which and why."""


@dataclass(frozen=True)
class ShardRef:
    """One shard of one folder: the unit of parallel reading."""

    folder: str
    name: str
    stream: str


def record_texts(record: Any) -> list[tuple[str, str]]:
    """(language, text) pairs of a caption, text or parallel record."""
    if isinstance(record, CaptionSample):
        return [(lang, caption.text) for lang, caption in sorted(record.captions.items())]
    if isinstance(record, TextSample):
        return [(record.language, record.text)]
    if isinstance(record, ParallelPair):
        return [(record.source_language, record.source_text), (record.target_language, record.target_text)]
    raise TypeError(f"cannot count tokens of a {type(record).__name__}")


def text_tokens(text: str, lowercase: bool = True, include_punctuation: bool = True, cleaned: bool = False) -> list[str]:
    """The shared word tokenization, as every vocabulary step applies it."""
    tokens = tokenize_words(text if cleaned else clean_text(text))
    if not include_punctuation:
        tokens = [token for token in tokens if is_word(token)]
    return [token.casefold() for token in tokens] if lowercase else tokens


def record_token_counts(
    record: Any, settings: CountsConfig = DEFAULT_COUNTS, languages: frozenset[str] | None = None
) -> list[tuple[tuple[str, str], int]]:
    """((language, token), count) for one record, ready for ``CombinePerKey(sum)``; only
    ``languages`` when given."""
    counts: Counter = Counter()
    for lang, text in record_texts(record):
        if languages is None or lang in languages:
            counts.update((lang, token) for token in text_tokens(text, settings.lowercase, settings.include_punctuation))
    return sorted(counts.items())


def count_tokens(records: Iterable[Any], settings: CountsConfig = DEFAULT_COUNTS,
                 languages: frozenset[str] | None = None) -> dict[str, Counter]:
    """Plain-Python token counts per language (the Beam transform's reference)."""
    totals: dict[str, Counter] = {}
    for record in records:
        for (lang, token), count in record_token_counts(record, settings, languages):
            totals.setdefault(lang, Counter())[token] += count
    return totals


def shard_folders(folders: Iterable[str]) -> list[str]:
    """Shard folders: each given folder with an index.json, else its subfolders that have one."""
    found: list[str] = []
    for folder in folders:
        if exists(join(folder, "index.json")):
            found.append(folder)
            continue
        fs, path = filesystem(folder)
        if not fs.exists(path):
            raise VocabError(f"{folder}: no such folder")
        children = sorted(entry["name"] for entry in fs.ls(path, detail=True) if entry["type"] == "directory")
        subfolders = [join(folder, os.path.basename(child.rstrip("/"))) for child in children]
        shard_dirs = [sub for sub in subfolders if exists(join(sub, "index.json"))]
        if not shard_dirs:
            raise VocabError(f"{folder}: neither a shard folder (no index.json) nor a folder of shard folders")
        found.extend(shard_dirs)
    return found


def list_shards(folders: Iterable[str]) -> list[ShardRef]:
    from babelshard.shards.index import read_index

    refs: list[ShardRef] = []
    for folder in shard_folders(folders):
        index = read_index(folder)
        refs.extend(ShardRef(folder, shard.name, index.stream) for shard in index.shards)
    return refs


def read_shard(ref: ShardRef) -> Iterator[Any]:
    """Typed records of one shard."""
    from babelshard.records import RECORD_TYPES
    from babelshard.shards.index import read_index
    from babelshard.shards.reader import iter_tar_samples, open_shard_bytes

    shard = next(s for s in read_index(ref.folder).shards if s.name == ref.name)
    record_type = RECORD_TYPES[ref.stream]
    for sample in iter_tar_samples(open_shard_bytes(ref.folder, shard, verify=False), where=join(ref.folder, ref.name)):
        yield record_type.from_sample(sample)


def iter_input_records(refs: Iterable[ShardRef]) -> Iterator[Any]:
    for ref in refs:
        yield from read_shard(ref)


def write_language_counts(folder: str, lang: str, counts: Iterable[tuple[str, int]]) -> str:
    """``counts/<lang>.tsv``: token, count; most frequent first, ties by token."""
    rows = sorted(counts, key=lambda item: (-item[1], item[0]))
    # tokens never hold whitespace (the tokenizer splits on it), so TSV needs no escaping
    text = "".join(f"{token}\t{count}\n" for token, count in rows)
    path = join(folder, COUNTS_FOLDER, f"{lang}.tsv")
    write_bytes_atomic(path, text.encode("utf-8"))
    return path


def read_language_counts(folder: str, lang: str) -> Counter:
    counts: Counter = Counter()
    for line in read_text(join(folder, COUNTS_FOLDER, f"{lang}.tsv")).splitlines():
        token, _, count = line.rpartition("\t")
        counts[token] = int(count)
    return counts


def read_all_counts(folder: str) -> dict[str, Counter]:
    fs, path = filesystem(join(folder, COUNTS_FOLDER))
    if not fs.exists(path):
        raise VocabError(f"{folder}: no {COUNTS_FOLDER}/ folder")
    names = sorted(os.path.basename(name) for name in fs.ls(path, detail=False) if name.endswith(".tsv"))
    return {name[: -len(".tsv")]: read_language_counts(folder, name[: -len(".tsv")]) for name in names}

