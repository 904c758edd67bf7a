"""Filtering translation pairs: plain functions, no Beam.

The order is cheap checks first (script conversion, empty and identical sides,
score, lengths, length ratio), then language ID of both sides, then exact dedup.
Every rejected pair is a :class:`~babelshard.stats.Drop` (stage ``parallel``) with a
:class:`PairReason`, or a :class:`~babelshard.textnorm.LengthReason` for a side.
"""
from __future__ import annotations

from dataclasses import replace

from babelshard.langid import LanguageIdConfig, language_verdict, predict_in_chunks
from babelshard.pipelines.text.clean import dedup_key, is_chinese, to_simplified
from babelshard.pipelines.text.config import PairFilterConfig
from babelshard.records import ParallelPair
from babelshard.stats import Drop, Reason
from babelshard.textnorm import clean_text, count_words, length_problem

STAGE = "parallel"


class PairReason(Reason):
    EMPTY_SIDE = "empty_side", "a side is empty after NFC and removing control characters"
    IDENTICAL_SIDES = "identical_sides", "both sides the same after case folding (copied, not translated)"
    SCORE_BELOW_THRESHOLD = "score_below_threshold", "aligner score (WikiMatrix margin) below filters.min_score"
    LENGTH_RATIO = "length_ratio", "the longer side has more than max_length_ratio times the words of the shorter"
    SOURCE_LID_MISMATCH = "source_lid_mismatch", "fastText's best language for the source side is not the claimed one"
    TARGET_LID_MISMATCH = "target_lid_mismatch", "fastText's best language for the target side is not the claimed one"
    SOURCE_LID_LOW_SCORE = "source_lid_low_score", "the source side's claimed language wins below lid.min_score"
    TARGET_LID_LOW_SCORE = "target_lid_low_score", "the target side's claimed language wins below lid.min_score"


def prepare_pair(pair: ParallelPair, filters: PairFilterConfig, converter=None) -> ParallelPair | Drop:
    """NFC both sides, convert Chinese script if asked, then the cheap filters."""
    src, tgt = clean_text(pair.source_text), clean_text(pair.target_text)
    if converter is not None:
        src = to_simplified(src, converter) if is_chinese(pair.source_language) else src
        tgt = to_simplified(tgt, converter) if is_chinese(pair.target_language) else tgt
    reason = pair_problem(src, tgt, pair.score, filters)
    if reason:
        return Drop(pair.key, STAGE, reason, detail=f"{src[:40]} | {tgt[:40]}")
    return replace(pair, source_text=src, target_text=tgt)


def pair_problem(src: str, tgt: str, score: float | None, filters: PairFilterConfig) -> Reason | None:
    if not src or not tgt:
        return PairReason.EMPTY_SIDE
    if filters.drop_identical and src.casefold() == tgt.casefold():
        return PairReason.IDENTICAL_SIDES
    if filters.min_score is not None and score is not None and score < filters.min_score:
        return PairReason.SCORE_BELOW_THRESHOLD
    shorter, longer = sorted((src, tgt), key=len)
    side_problem = length_problem(shorter, filters.lengths) or length_problem(longer, filters.lengths)
    if side_problem:
        return side_problem
    if length_ratio(src, tgt) > filters.max_length_ratio:
        return PairReason.LENGTH_RATIO
    return None


def length_ratio(src: str, tgt: str) -> float:
    """Longer over shorter side in word tokens (each CJK character is a token, so scripts compare fairly)."""
    a, b = max(count_words(src), 1), max(count_words(tgt), 1)
    return max(a, b) / min(a, b)


def check_pair_languages(pair: ParallelPair, predictions, lid: LanguageIdConfig) -> ParallelPair | Drop:
    """Both sides must be in their claimed languages; the pair keeps the two scores in its meta."""
    (src_label, src_score), (tgt_label, tgt_score) = predictions
    for side, language, label, score in (
        ("source", pair.source_language, src_label, src_score),
        ("target", pair.target_language, tgt_label, tgt_score),
    ):
        reason = language_verdict(language, (label, score), lid)
        if reason:
            text = pair.source_text if side == "source" else pair.target_text
            return Drop(pair.key, STAGE, PairReason(f"{side}_{reason}"), detail=f"{label} {score:.3f}: {text[:60]}")
    meta = {**pair.meta, "langid_scores": [round(src_score, 4), round(tgt_score, 4)]}
    return replace(pair, meta=meta)


def check_pair_batch(pairs: list[ParallelPair], model, lid: LanguageIdConfig) -> list[ParallelPair | Drop]:
    """:func:`check_pair_languages` over a batch of pairs; both sides of every pair go to
    fastText together, ``lid.max_batch_size`` texts at a time."""
    texts = [text for pair in pairs for text in (pair.source_text, pair.target_text)]
    predictions = predict_in_chunks(model, texts, lid.max_batch_size)
    return [check_pair_languages(pair, predictions[2 * n : 2 * n + 2], lid) for n, pair in enumerate(pairs)]


def pair_dedup_key(pair: ParallelPair) -> bytes:
    return dedup_key(pair.source_text, pair.target_text)
