"""Per-language training corpora for SentencePiece and fastText, and the balanced sample.

One pass over the records writes, per language, the cleaned lines (``raw/<lang>.txt``,
for SentencePiece) and the same lines as tokens joined by spaces (``tokens/<lang>.txt``,
for fastText: so every counted token gets a vector). Local files: both trainers read
local paths.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from babelshard.textnorm import clean_text
from babelshard.vocab.counts import VocabError, record_texts, text_tokens


@dataclass(frozen=True)
class LanguageCorpus:
    language: str
    raw_path: str
    tokens_path: str
    lines: int


def write_corpora(records: Iterable[Any], folder: str, lowercase: bool = True, include_punctuation: bool = True,
                  languages: frozenset[str] | None = None) -> dict[str, LanguageCorpus]:
    """Write ``raw/<lang>.txt`` and ``tokens/<lang>.txt`` under ``folder``; one line per text."""
    os.makedirs(os.path.join(folder, "raw"), exist_ok=True)
    os.makedirs(os.path.join(folder, "tokens"), exist_ok=True)
    handles: dict[str, tuple[Any, Any]] = {}
    lines: dict[str, int] = {}
    try:
        for record in records:
            for lang, text in record_texts(record):
                if languages is not None and lang not in languages:
                    continue
                line = clean_text(text)
                if not line:
                    continue
                if lang not in handles:
                    handles[lang] = tuple(
                        open(_path(folder, kind, lang), "w", encoding="utf-8") for kind in ("raw", "tokens")
                    )
                raw, tokens = handles[lang]
                raw.write(line + "\n")
                tokens.write(" ".join(text_tokens(line, lowercase, include_punctuation, cleaned=True)) + "\n")
                lines[lang] = lines.get(lang, 0) + 1
    finally:
        for raw, tokens in handles.values():
            raw.close()
            tokens.close()
    return {
        lang: LanguageCorpus(lang, _path(folder, "raw", lang), _path(folder, "tokens", lang), lines[lang])
        for lang in sorted(lines)
    }


def _path(folder: str, kind: str, lang: str) -> str:
    return os.path.join(folder, kind, f"{lang}.txt")


def sampling_weights(line_counts: Mapping[str, int], alpha: float) -> dict[str, float]:
    """q_i ∝ p_i^alpha over languages, p_i the language's share of all lines (the text stream's
    weights, :func:`babelshard.shards.weights.smoothed_weights`, over our corpus lines)."""
    from babelshard.shards.weights import smoothed_weights

    if not line_counts or sum(line_counts.values()) <= 0:
        raise VocabError("no text in any language to sample from")
    empty = sorted(lang for lang, count in line_counts.items() if count <= 0)
    if empty:
        raise VocabError(f"language(s) with no text: {', '.join(empty)}")
    return {lang: q for lang, (_, q) in smoothed_weights(line_counts, alpha).items()}


def sample_sizes(line_counts: Mapping[str, int], alpha: float, total: int) -> dict[str, int]:
    """Lines to draw per language for a balanced sample of about ``total`` lines (at least one each)."""
    weights = sampling_weights(line_counts, alpha)
    return {lang: max(1, round(weight * total)) for lang, weight in weights.items()}


def sample_line_numbers(available: int, size: int, seed: int, lang: str) -> np.ndarray:
    """Sorted line numbers to take: without replacement when there are enough lines, otherwise
    every line as often as fits plus a random remainder (low-resource languages are upsampled)."""
    rng = np.random.default_rng([seed, zlib.crc32(lang.encode("utf-8"))])
    repeats, remainder = divmod(size, available)
    chosen = np.concatenate([np.repeat(np.arange(available), repeats), rng.choice(available, remainder, replace=False)])
    return np.sort(chosen)


def write_balanced_sample(corpora: Mapping[str, LanguageCorpus], alpha: float, total: int, seed: int,
                          path: str) -> dict[str, int]:
    """Write the language-balanced sample of raw lines to ``path``; returns lines taken per language."""
    lines = {lang: corpus.lines for lang, corpus in corpora.items()}
    sizes = sample_sizes(lines, alpha, min(total, sum(lines.values())))  # never inflate a small corpus
    with open(path, "w", encoding="utf-8") as out:
        for lang in sorted(corpora):
            corpus = corpora[lang]
            wanted = np.bincount(sample_line_numbers(corpus.lines, sizes[lang], seed, lang), minlength=corpus.lines)
            with open(corpus.raw_path, encoding="utf-8") as handle:
                for number, line in enumerate(handle):
                    if wanted[number]:
                        out.write(line * int(wanted[number]))
    return sizes
