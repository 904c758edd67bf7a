"""Fitting inputs to a model's length limit and ordering them by length.

Plain functions over SentencePiece pieces: a text longer than the limit is split at
sentence, then clause boundaries (and, for a single over-long clause, into fixed-size
chunks), or truncated; the caller counts which happened.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

# Split after sentence punctuation, then after clause punctuation, keeping the marks.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:，；：])\s+")

Encode = Callable[[str], list[str]]


def split_text(text: str, encode: Encode, limit: int) -> list[list[str]]:
    """Pieces of ``text`` in consecutive segments of at most ``limit`` pieces each."""
    segments: list[list[str]] = []
    current: list[str] = []
    for part in _parts(text, encode, limit):
        if current and len(current) + len(part) > limit:
            segments.append(current)
            current = []
        current = current + part
    if current:
        segments.append(current)
    return segments


def _parts(text: str, encode: Encode, limit: int) -> list[list[str]]:
    parts: list[list[str]] = []
    for sentence in filter(None, _SENTENCE_END.split(text)):
        pieces = encode(sentence)
        if len(pieces) <= limit:
            parts.append(pieces)
            continue
        for clause in filter(None, _CLAUSE_END.split(sentence)):
            clause_pieces = encode(clause)
            parts.extend(clause_pieces[start : start + limit] for start in range(0, len(clause_pieces), limit))
    return parts


def fit_to_limit(text: str, encode: Encode, limit: int, mode: str) -> tuple[list[list[str]], bool, bool]:
    """(segments, was_split, was_truncated) for one input."""
    pieces = encode(text)
    if len(pieces) <= limit:
        return [pieces], False, False
    if mode == "truncate":
        return [pieces[:limit]], False, True
    if mode == "split":
        return split_text(text, encode, limit), True, False
    raise ValueError(f"unknown long-input mode {mode!r}; allowed: split, truncate")


def length_order(items: Sequence[Sequence[object]]) -> list[int]:
    """Indices that sort ``items`` by length (stable), so batches carry little padding."""
    return sorted(range(len(items)), key=lambda index: len(items[index]))
