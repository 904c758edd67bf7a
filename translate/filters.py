"""Quality checks on one translation: plain functions, each failure an enumerated reason.

:func:`check_translation` runs them in a fixed order and returns the first failure as
``(reason, detail)`` or ``None``. Language ID takes fastText's predictions as an
argument, so the model is loaded and called by the caller.
"""
from __future__ import annotations

from typing import Sequence

from babelshard.langid import LanguageReason, accepted_labels
from babelshard.stats import Reason
from babelshard.textnorm import LengthReason, is_word, normalize_for_key, tokenize_words
from babelshard.translate.config import FilterConfig


class FilterReason(Reason):
    """Quality-check reasons of a translation, besides ``empty`` (LengthReason) and
    ``lid_mismatch`` (LanguageReason)."""

    IDENTICAL = "identical_to_source", "the translation is the source text (after normalisation)"
    COPY = "copy_of_source", "at least max_copy_ratio of the translation's words are source words"
    REPEATED_NGRAMS = "repeated_ngrams", "an n-gram repeated back to back more than max_repeats times (a decoding loop)"
    LENGTH_RATIO = "length_ratio", "translation chars / source chars outside the configured bounds"
    LOW_SCORE = "low_score", "the engine's score is below filters.min_score"


Failure = tuple[str, str]


def words(text: str) -> list[str]:
    return [token.casefold() for token in tokenize_words(text) if is_word(token)]


def check_empty(translation: str) -> Failure | None:
    return (LengthReason.EMPTY, "") if not translation.strip() else None


def check_copy(source: str, translation: str, max_ratio: float, min_words: int) -> Failure | None:
    """The source came back unchanged, or most target words are source words."""
    if normalize_for_key(source) == normalize_for_key(translation):
        return FilterReason.IDENTICAL, ""
    target_words = words(translation)
    if len(target_words) < min_words:
        return None
    source_words = set(words(source))
    ratio = sum(word in source_words for word in target_words) / len(target_words)
    return (FilterReason.COPY, f"{ratio:.2f} of words copied") if ratio >= max_ratio else None


def longest_repeat(tokens: Sequence[str], max_ngram: int) -> tuple[int, tuple[str, ...]]:
    """The most back-to-back repetitions of any n-gram (n <= max_ngram) and that n-gram."""
    best: tuple[int, tuple[str, ...]] = (1, tuple(tokens[:1]))
    for n in range(1, max_ngram + 1):
        for phase in range(n):
            run = 1
            for start in range(phase + n, len(tokens) - n + 1, n):
                run = run + 1 if tokens[start : start + n] == tokens[start - n : start] else 1
                if run > best[0]:
                    best = (run, tuple(tokens[start : start + n]))
    return best


def check_repeats(source: str, translation: str, max_ngram: int, max_repeats: int) -> Failure | None:
    """A decoding loop: an n-gram repeated back to back more than ``max_repeats`` times
    (unless the source repeats as much, as in a song title)."""
    count, ngram = longest_repeat(words(translation), max_ngram)
    if count <= max_repeats or longest_repeat(words(source), max_ngram)[0] >= count:
        return None
    return FilterReason.REPEATED_NGRAMS, f"{' '.join(ngram)!r} x{count}"


def check_length_ratio(source: str, translation: str, bounds: tuple[float, float], min_chars: int) -> Failure | None:
    if len(source) < min_chars:
        return None
    ratio = len(translation) / len(source)
    low, high = bounds
    return (FilterReason.LENGTH_RATIO, f"{ratio:.2f} not in [{low}, {high}]") if not low <= ratio <= high else None


def lid_predictions(model, text: str, k: int = 5) -> list[tuple[str, float]]:
    """fastText's ``k`` best (label, probability) pairs, best first."""
    labels, scores = model.predict(text.replace("\n", " "), k=k)
    return [(label.replace("__label__", ""), float(score)) for label, score in zip(labels, scores)]


def check_language(
    translation: str, source: str, target: str, predictions: list[tuple[str, float]] | None, config: FilterConfig
) -> Failure | None:
    """Not in the target language (``lid_mismatch``): fastText's best label is not the
    target, and either the source language scores above the target (left untranslated)
    or the target scores below ``lid_min_target_score`` (``config.lid.min_score``). Close
    languages pass (a short Catalan caption that lid.176 ranks as Spanish keeps some
    Catalan score); short texts skip the check."""
    if not predictions or len(words(translation)) < config.lid_min_words:
        return None
    accepted = accepted_labels(target, config.lid.also_accept)
    best, best_score = predictions[0]
    if best in accepted:
        return None
    target_score = sum(score for label, score in predictions if label in accepted)
    source_score = sum(score for label, score in predictions if label == source)
    if source_score <= target_score and target_score >= config.lid.min_score:
        return None
    return LanguageReason.MISMATCH, f"{best} {best_score:.2f}, {target} {target_score:.2f}"


def check_score(score: float | None, minimum: float | None) -> Failure | None:
    if minimum is None or score is None or score >= minimum:
        return None
    return FilterReason.LOW_SCORE, f"{score:.3f} < {minimum}"


def check_translation(
    source: str,
    translation: str,
    target: str,
    config: FilterConfig,
    *,
    source_language: str = "en",
    score: float | None = None,
    predictions: list[tuple[str, float]] | None = None,
) -> Failure | None:
    """The first failed check, cheapest first, or ``None`` when the translation passes."""
    bounds = config.length_ratio_overrides.get(target, (config.min_length_ratio, config.max_length_ratio))
    return (
        check_empty(translation)
        or check_copy(source, translation, config.max_copy_ratio, config.copy_min_words)
        or check_repeats(source, translation, config.max_ngram, config.max_repeats)
        or check_length_ratio(source, translation, bounds, config.length_ratio_min_chars)
        or check_score(score, config.min_score)
        or check_language(translation, source_language, target, predictions, config)
    )
