"""Lexicon pairs for the alignment: ``(word in the language, word in the pivot)``.

Three inputs: a babelshard lexicon parquet (the code-switch package's format, read with
its API), a FreeDict ``.index`` file (read with the code-switch FreeDict reader), or a
plain TSV of ``pivot_word<TAB>word`` lines. Only single-word pairs are kept; words are
case-folded when the vocabulary is.
"""
from __future__ import annotations

from babelshard.fs import exists, read_text
from babelshard.textnorm import is_word, tokenize_words
from babelshard.vocab.counts import VocabError


def read_alignment_pairs(path: str, language: str, pivot: str, lowercase: bool = True) -> list[tuple[str, str]]:
    """Sorted, distinct (language word, pivot word) pairs of single words."""
    if not exists(path):
        raise VocabError(f"{language}: lexicon not found: {path}")
    if path.endswith(".parquet"):
        raw = _parquet_pairs(path, language, pivot)
    elif path.endswith(".index"):
        raw = _freedict_pairs(path, language, pivot)
    else:
        raw = _tsv_pairs(path)
    pairs = set()
    for word, pivot_word in raw:
        if _single_word(word) and _single_word(pivot_word):
            pairs.add((word.casefold(), pivot_word.casefold()) if lowercase else (word, pivot_word))
    if not pairs:
        raise VocabError(f"{path}: no single-word {language}-{pivot} pairs")
    return sorted(pairs)


def _single_word(term: str) -> bool:
    tokens = tokenize_words(term)
    return len(tokens) == 1 and is_word(tokens[0])


def _parquet_pairs(path: str, language: str, pivot: str) -> list[tuple[str, str]]:
    from babelshard.codeswitch.lexfile import load_lexicon_pairs

    forward = load_lexicon_pairs(path, target_language=language, source_language=pivot, single_words=True)
    if forward:
        return [(target, source) for source, target, _ in forward]
    backward = load_lexicon_pairs(path, target_language=pivot, source_language=language, single_words=True)
    return [(source, target) for source, target, _ in backward]


def _freedict_pairs(path: str, language: str, pivot: str) -> list[tuple[str, str]]:
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    pairs = import_freedict(path, max_words=1)
    langs = {(pair.source_language, pair.target_language) for pair in pairs[:1]}
    if (pivot, language) in langs:
        return [(pair.target_term, pair.source_term) for pair in pairs]
    if (language, pivot) in langs:
        return [(pair.source_term, pair.target_term) for pair in pairs]
    raise VocabError(f"{path}: a {'-'.join(next(iter(langs), ('?', '?')))} dictionary, not {pivot}-{language}")


def _tsv_pairs(path: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 2:
            raise VocabError(f"{path}:{number}: expected `pivot_word<TAB>word`, got {line!r}")
        pairs.append((parts[1].strip(), parts[0].strip()))
    return pairs
