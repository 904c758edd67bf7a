"""Filtering translation pairs: plain functions, no Beam.

The order is cheap checks first (script conversion, empty and identical sides,
score, lengths, length ratio), then language ID of both sides, then exact dedup.
Every rejected pair is a :class:`~babelshard.stats.Drop` with one of
:data:`PAIR_DROP_REASONS`.
"""
from __future__ import annotations

from dataclasses import replace

from babelshard.langid import predict_in_chunks
from babelshard.records import ParallelPair
from babelshard.stats import Drop
from babelshard.textnorm import clean_text
from babelshard.pipelines.text.clean import count_words, dedup_key, is_chinese, language_verdict, to_simplified

STAGE = "parallel"
PAIR_DROP_REASONS = (
    "invalid_utf8",  # reader: a side is not UTF-8
    "malformed",  # reader: TSV line with too few columns or a score that is not a number
    "unaligned",  # reader: a Moses line with no partner (the two files differ in length)
    "missing_side",  # reader: a TMX unit without a <tuv> in one of the two languages
    "untranslated",  # reader: a .po entry with an empty msgstr
    "fuzzy",  # reader: a .po entry flagged fuzzy (unreviewed)
    "obsolete",  # reader: a #~ .po entry
    "empty_side",  # a side is empty after NFC and removing control characters
    "identical_sides",  # both sides the same after normalisation (copied, not translated)
    "score_below_threshold",  # aligner score (WikiMatrix margin) below filters.min_score
    "too_short",  # a side shorter than min_chars
    "too_long",  # a side longer than max_chars
    "length_ratio",  # longer side has more than max_length_ratio times the words of the shorter
    "source_lid_mismatch",  # fastText's best language for the source side is not the claimed one
    "target_lid_mismatch",
    "source_lid_low_score",  # claimed language wins below lid.min_score
    "target_lid_low_score",
    "duplicate",  # same normalised pair already kept
)


def prepare_pair(pair: ParallelPair, filters, converter=None) -> ParallelPair | Drop:
    """NFC both sides, convert Chinese script if asked, then the cheap filters."""
    src, tgt = clean_text(pair.source_text), clean_text(pair.target_text)
    if converter is not None:
        src = to_simplified(src, converter) if is_chinese(pair.source_language) else src
        tgt = to_simplified(tgt, converter) if is_chinese(pair.target_language) else tgt
    reason = pair_problem(src, tgt, pair.score, filters)
    if reason:
        return Drop(pair.key, STAGE, reason, detail=f"{src[:40]} | {tgt[:40]}")
    return replace(pair, source_text=src, target_text=tgt)


def pair_problem(src: str, tgt: str, score: float | None, filters) -> str | None:
    if not src or not tgt:
        return "empty_side"
    if filters.drop_identical and src.casefold() == tgt.casefold():
        return "identical_sides"
    if filters.min_score is not None and score is not None and score < filters.min_score:
        return "score_below_threshold"
    shortest, longest = min(len(src), len(tgt)), max(len(src), len(tgt))
    if shortest < filters.min_chars:
        return "too_short"
    if longest > filters.max_chars:
        return "too_long"
    if length_ratio(src, tgt) > filters.max_length_ratio:
        return "length_ratio"
    return None


def length_ratio(src: str, tgt: str) -> float:
    """Longer over shorter side in word tokens (each CJK character is a token, so scripts compare fairly)."""
    a, b = max(count_words(src), 1), max(count_words(tgt), 1)
    return max(a, b) / min(a, b)


def check_pair_languages(pair: ParallelPair, predictions, lid) -> ParallelPair | Drop:
    """Both sides must be in their claimed languages; the pair keeps the two scores in its meta."""
    (src_label, src_score), (tgt_label, tgt_score) = predictions
    for side, language, label, score in (
        ("source", pair.source_language, src_label, src_score),
        ("target", pair.target_language, tgt_label, tgt_score),
    ):
        reason = language_verdict(language, label, score, lid.min_score, lid.also_accept)
        if reason:
            text = pair.source_text if side == "source" else pair.target_text
            return Drop(pair.key, STAGE, f"{side}_{reason}", detail=f"{label} {score:.3f}: {text[:60]}")
    meta = {**pair.meta, "langid_scores": [round(src_score, 4), round(tgt_score, 4)]}
    return replace(pair, meta=meta)


def check_pair_batch(pairs: list[ParallelPair], model, lid) -> list[ParallelPair | Drop]:
    """:func:`check_pair_languages` over a batch of pairs; both sides of every pair go to
    fastText together, ``lid.max_batch_size`` texts at a time."""
    texts = [text for pair in pairs for text in (pair.source_text, pair.target_text)]
    predictions = predict_in_chunks(model, texts, lid.max_batch_size)
    return [check_pair_languages(pair, predictions[2 * n : 2 * n + 2], lid) for n, pair in enumerate(pairs)]


def pair_dedup_key(pair: ParallelPair) -> bytes:
    return dedup_key(pair.source_text, pair.target_text)
