"""Reading dictd databases (``NAME.index`` + ``NAME.dict.dz``), as FreeDict ships them.

The index has one line per headword: ``headword<TAB>offset<TAB>length`` with offset
and length in dictd's base64 digits, pointing into the uncompressed ``.dict`` text.
``.dict.dz`` is dictzip, which gzip reads. Entries are not separated in the text
itself, so the index is the only reliable way to cut them.
"""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from typing import Iterator

from babelshard.codeswitch.lexfile import LexiconError
from babelshard.stats import StageStats

_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_VALUE = {ch: i for i, ch in enumerate(_DIGITS)}
STAGE = "dictd"


@dataclass(frozen=True)
class DictdEntry:
    headword: str  # as the index names it
    offset: int
    text: str


def decode_number(digits: str) -> int:
    value = 0
    for ch in digits:
        try:
            value = value * 64 + _VALUE[ch]
        except KeyError:
            raise ValueError(f"not a dictd base64 number: {digits!r}") from None
    return value


def dict_path_for(index_path: str) -> str:
    stem = index_path[: -len(".index")] if index_path.endswith(".index") else index_path
    for candidate in (stem + ".dict.dz", stem + ".dict"):
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"no {stem}.dict.dz or {stem}.dict beside {index_path}")


def read_dict_text(dict_path: str) -> bytes:
    try:
        if dict_path.endswith(".dz") or dict_path.endswith(".gz"):
            with gzip.open(dict_path, "rb") as handle:
                return handle.read()
        with open(dict_path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as error:
        raise LexiconError(f"{dict_path}: cannot decompress ({error})") from None


def iter_index(index_path: str, stats: StageStats) -> Iterator[tuple[str, int, int]]:
    """``(headword, offset, length)`` per well-formed index line; bad lines are counted skips."""
    if not os.path.exists(index_path):
        raise FileNotFoundError(f"dictd index not found: {index_path}")
    with open(index_path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                stats.drop(STAGE, "malformed_index_line")
                continue
            try:
                yield fields[0], decode_number(fields[1]), decode_number(fields[2])
            except ValueError:
                stats.drop(STAGE, "malformed_index_line")


def iter_entries(index_path: str, stats: StageStats | None = None) -> Iterator[DictdEntry]:
    """Each entry once (an entry indexed under several headwords is read once), in index order.

    dictd's own ``00-database-*`` header entries are skipped.
    """
    stats = stats if stats is not None else StageStats()
    data = read_dict_text(dict_path_for(index_path))
    seen: set[int] = set()
    for headword, offset, length in iter_index(index_path, stats):
        if headword.startswith("00-database") or headword.startswith("00database"):
            continue
        if offset in seen:
            continue
        seen.add(offset)
        if offset + length > len(data) or length == 0:
            stats.drop(STAGE, "entry_out_of_range")
            continue
        stats.inputs += 1
        yield DictdEntry(headword, offset, data[offset : offset + length].decode("utf-8", errors="replace"))
