"""Cleaning monolingual text: plain functions, no Beam.

A line read from a source becomes zero or more sentence records; every sentence that
does not become a sample comes back as a :class:`~babelshard.stats.Drop` (stage
``text``) with a :class:`~babelshard.textnorm.LengthReason`, a
:class:`~babelshard.langid.LanguageReason` or :class:`TextReason`. Language ID and
dedup checks are here too; the Beam wrappers in :mod:`babelshard.pipelines.text.beam`
only batch and group.
"""
from __future__ import annotations

import hashlib
import operator
import re
from dataclasses import replace
from typing import Iterable

from babelshard.langid import LanguageIdConfig, accepted_labels, language_verdict, lid_code, predict_in_chunks
from babelshard.pipelines.text.config import TextCleanConfig
from babelshard.records import TextSample, stable_key
from babelshard.stats import Drop, Reason
from babelshard.textnorm import LengthReason, clean_text, length_problem

STAGE = "text"


class TextReason(Reason):
    DUPLICATE = "duplicate", "same normalised text (for pairs: both sides) already kept"

# Sentence ends. Latin-like scripts: . ! ? … followed by space and not by a lowercase
# letter. CJK and other scripts whose full stops need no following space: 。！？ etc.
_CLOSERS = "\"'”’»)]}›"
_SPACED_END = re.compile(rf"[.!?…]+[{re.escape(_CLOSERS)}]*(?=\s+(\S))")
_UNSPACED_END = re.compile(r"[。！？｡।॥؟۔።፧။]+[」』》〉】）)\"'”’»]*")
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")  # not Hangul: Korean ends with "."
# Titles and other abbreviations that end in a period inside a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc no nr fig ca bzw vgl z.b u.a sig sra dott ing gen art tel pp vol".split()
)


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences; a sound default for spaced and CJK scripts.

    Splits after . ! ? … (with closing quotes or brackets) when whitespace and a
    non-lowercase character follow, unless the word before the period is a single
    letter (an initial), a number (an ordinal: "am 3. Mai"), a known abbreviation or
    a CJK character (CJK text ends sentences with 。, so "例." abbreviates);
    and after 。！？ and the full stops of Devanagari, Arabic, Ethiopic and Myanmar,
    with or without a following space.
    """
    cuts = {match.end() for match in _UNSPACED_END.finditer(text) if match.end() < len(text)}
    for match in _SPACED_END.finditer(text):
        following = match.group(1)
        if following.islower() or _is_abbreviation(text, match.start(), match.group(0)):
            continue
        cuts.add(match.end())
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces.append(text[start:cut].strip())
        start = cut
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def _is_abbreviation(text: str, position: int, ending: str) -> bool:
    if not ending.startswith(".") or ending.startswith(".."):
        return False
    if position and _CJK_CHAR.match(text[position - 1]):
        return True  # CJK text ends sentences with 。; an ASCII period after CJK is an abbreviation ("例.")
    word = text[:position].rsplit(None, 1)[-1] if text[:position].strip() else ""
    word = word.lstrip("(\"'«„“")
    if not word:
        return False
    if len(word) == 1 and word.isalpha() or word.isdigit():
        return True
    return word.casefold() in _ABBREVIATIONS


def to_simplified(text: str, converter) -> str:
    """Traditional to Simplified Chinese with an OpenCC ``t2s`` converter."""
    return converter.convert(text)


def make_t2s_converter():
    """OpenCC's t2s converter; a clear error when the optional dependency is missing."""
    try:
        import opencc
    except ImportError:
        raise RuntimeError(
            "chinese: t2s needs OpenCC: pip install opencc (or set chinese: keep)"
        ) from None
    return opencc.OpenCC("t2s")


def is_chinese(language: str) -> bool:
    return lid_code(language) == "zh"


def prepare_sentences(record: TextSample, settings: TextCleanConfig, converter=None) -> list[TextSample | Drop]:
    """NFC-clean a line, optionally convert Chinese script (``converter``: OpenCC's
    t2s), split it and check lengths. Each sentence gets the key
    ``stable_key(line key, index)``."""
    text = clean_text(record.text)
    if not text:
        return [Drop(record.key, STAGE, LengthReason.EMPTY)]
    if converter is not None and is_chinese(record.language):
        text = to_simplified(text, converter)
    pieces = split_sentences(text) if settings.split_sentences else [text]
    bounds = settings.lengths
    out: list[TextSample | Drop] = []
    for number, piece in enumerate(pieces):
        key = stable_key(record.key, str(number)) if len(pieces) > 1 else record.key
        reason = length_problem(piece, bounds)
        if reason:
            out.append(Drop(key, STAGE, reason, detail=piece[:80]))
        else:
            out.append(replace(record, key=key, text=piece))
    return out


def check_text_language(record: TextSample, prediction: tuple[str, float], lid: LanguageIdConfig) -> TextSample | Drop:
    """Keep a sentence whose fastText prediction confirms its claimed language; record the score."""
    predicted, score = prediction
    reason = language_verdict(record.language, prediction, lid)
    if reason:
        return Drop(record.key, STAGE, reason, detail=f"{predicted} {score:.3f}: {record.text[:60]}")
    return record.with_langid_score(round(score, 4))


def check_text_languages(records: list[TextSample], model, lid: LanguageIdConfig) -> list[TextSample | Drop]:
    """:func:`check_text_language` over a batch of sentences, with fastText called on
    ``lid.max_batch_size`` sentences at a time."""
    predictions = predict_in_chunks(model, [record.text for record in records], lid.max_batch_size)
    confirming: dict[str, frozenset[str]] = {}  # claimed language -> accepted labels, looked up once per batch
    out: list[TextSample | Drop] = []
    for record, prediction in zip(records, predictions):
        predicted, score = prediction
        labels = confirming.get(record.language)
        if labels is None:
            labels = confirming[record.language] = accepted_labels(record.language, lid.also_accept)
        if predicted in labels and score >= lid.min_score:  # kept: the common case, decided inline
            out.append(record.with_langid_score(round(score, 4)))
        else:
            out.append(check_text_language(record, prediction, lid))  # the drop, with its reason
    return out


def dedup_key(*parts: str) -> bytes:
    """A 16-byte hash of case-folded text (and, for pairs, of both sides).

    The texts are already cleaned (NFC, no control characters, single spaces) by the
    prepare stage, so case folding completes ``normalize_for_key`` here.
    """
    joined = parts[0].casefold() if len(parts) == 1 else "\x1f".join([part.casefold() for part in parts])
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()


def text_dedup_key(record: TextSample) -> bytes:
    return dedup_key(record.text)


def keep_first_per_hash(
    pairs: Iterable[tuple[bytes, object]], stage: str = STAGE, key_of=operator.attrgetter("key")
) -> tuple[list, list[Drop]]:
    """Of records with the same hash (of their normalised text), keep the one with the smallest key.

    ``pairs`` are ``(hash, record)``; ``key_of`` reads a record's key (dedup rows: ``itemgetter(0)``).
    Returns the kept records and a ``duplicate`` Drop for each other one. A record is
    dropped as soon as a record with the same hash and a smaller key is known, so the
    result does not depend on the order of ``pairs``.
    """
    best: dict = {}
    drops: list[Drop] = []
    for digest, record in pairs:
        current = best.setdefault(digest, record)
        if current is record:
            continue
        loser, winner = (record, current) if key_of(record) > key_of(current) else (current, record)
        best[digest] = winner
        drops.append(Drop(key_of(loser), stage, TextReason.DUPLICATE, detail=f"same as {key_of(winner)}"))
    return list(best.values()), drops
