"""Text normalisation, the word tokenization shared by code-switching, vocabularies and
the trainer, and the one length check every stream applies. Plain functions, no Beam."""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import regex

from babelshard.errors import MissingDependencyError
from babelshard.stats import reason_enum

# Zero-width and bidi control characters that survive NFC and break tokenization.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e"), None)
_SPACES = re.compile(r"\s+")

# Every character for which str.isspace() is true (tests check the list): the gaps
# between tokens are exactly these, so split_words' gaps strip to nothing.
SPACE_CHARS = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Scripts written without spaces between words: their runs go to ICU's word
# segmenter (dictionary based). Script_Extensions, so that e.g. the Katakana-Hiragana
# prolonged sound mark stays in its word.
_UNSPACED = r"\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\p{scx=Thai}\p{scx=Lao}\p{scx=Khmer}\p{scx=Myanmar}"
# A word starts with a letter or number and keeps the combining marks and joiners
# that follow (Devanagari viramas and vowel signs, Hebrew points, Hangul stays whole);
# inner apostrophes and hyphens join parts. Any other non-space grapheme cluster is
# one punctuation or symbol token (an emoji sequence is one token).
_LETTER = r"[\p{L}\p{N}]"
_SPACED_LETTER = rf"(?:(?![{_UNSPACED}]){_LETTER})"
_SPACED_BODY = rf"(?:(?![{_UNSPACED}])[\p{{L}}\p{{N}}\p{{M}}\u200c\u200d])"
_SPACED_PART = rf"{_SPACED_LETTER}{_SPACED_BODY}*"
_UNSPACED_RUN = rf"(?:(?=[{_UNSPACED}]){_LETTER})(?:(?=[{_UNSPACED}\p{{M}}])[\p{{L}}\p{{N}}\p{{M}}])*"
WORD_PATTERN = regex.compile(
    rf"(?P<unspaced>{_UNSPACED_RUN})|{_SPACED_PART}(?:['’\-]{_SPACED_PART})*|(?![{SPACE_CHARS}])\X"
)
# The same tokens as WORD_PATTERN on ASCII text (letters and digits are [A-Za-z0-9] there;
# "_" is punctuation), with ASCII classes and possessive repeats (nothing follows them
# that could take back a character), which the regex engine runs about 1.4x faster.
# Captured, so that ``split`` also returns the whitespace between tokens.
_ASCII_SPLIT = re.compile(r"([A-Za-z0-9]++(?:['\-][A-Za-z0-9]++)*+|[^A-Za-z0-9\s])")
_ASCII_WORDS = re.compile(r"[A-Za-z0-9]++(?:['\-][A-Za-z0-9]++)*+|[^A-Za-z0-9\s]")
_UNSPACED_TOKEN = regex.compile(_UNSPACED_RUN)


def clean_text(text: str) -> str:
    """NFC, drop control and zero-width characters, collapse whitespace, strip."""
    if text.isprintable() and unicodedata.is_normalized("NFC", text):
        # Fast path: isprintable() is False for every control, format (zero-width, bidi)
        # and non-ASCII space character, so only runs of spaces can need work.
        return " ".join(text.split())
    return clean_text_thoroughly(text)


def clean_text_thoroughly(text: str) -> str:
    """:func:`clean_text` without its fast path (the reference the fast path must equal)."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return _SPACES.sub(" ", text).strip()


def tokenize_words(text: str) -> list[str]:
    """Words and punctuation, in order, original case kept. Words of scripts written
    without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) come from ICU's
    dictionary-based word segmenter."""
    if text.isascii():
        return _ASCII_WORDS.findall(text)
    tokens: list[str] = []
    for match in WORD_PATTERN.finditer(text):
        if match.group("unspaced") is None:
            tokens.append(match.group())
        else:
            tokens.extend(segment_unspaced(match.group()))
    return tokens


def split_words(text: str) -> list[str]:
    """``[space, token, space, ..., token, space]``: the tokens of :func:`tokenize_words` at
    odd indices and the (possibly empty) whitespace around them at even ones, so
    ``"".join(parts) == text``. For rebuilding a text with some tokens replaced."""
    if text.isascii():
        return _ASCII_SPLIT.split(text)
    parts, position = [], 0
    for match in WORD_PATTERN.finditer(text):
        parts.append(text[position : match.start()])
        if match.group("unspaced") is None:
            parts.append(match.group())
        else:
            pieces = segment_unspaced(match.group())
            parts.append(pieces[0])
            for piece in pieces[1:]:
                parts += ["", piece]
        position = match.end()
    parts.append(text[position:])
    return parts


def segment_unspaced(run: str) -> list[str]:
    """The words of a run of letters of scripts written without spaces, by ICU's
    dictionary-based word break iterator (icu4py, whose wheels bundle ICU)."""
    WordBreaker, root = _icu_word_breaking()
    return list(WordBreaker(run, root))


@functools.cache
def _icu_word_breaking() -> tuple[type, object]:
    try:
        from icu4py.breakers import WordBreaker
        from icu4py.locale import Locale
    except ImportError:
        raise MissingDependencyError(
            "word segmentation of Chinese, Japanese, Thai, Lao, Khmer and Myanmar needs icu4py: pip install icu4py"
        ) from None
    return WordBreaker, Locale("")  # ICU's root locale: the break dictionaries go by script


def is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def detokenize(tokens: list[str]) -> str:
    """Join tokens with spaces, without a space before closing punctuation or after opening.

    Words of scripts written without spaces are joined without one where the joined
    text segments back into the same words (so ``tokenize_words(detokenize(t)) == t``);
    a space separates them where it would not.
    """
    out: list[str] = []
    run: list[str] = []  # the unspaced-script words that end out[-1]
    for token in tokens:
        unspaced = _is_unspaced(token)
        if out and unspaced and run and segment_unspaced("".join(run) + token) == [*run, token]:
            out[-1] += token
            run.append(token)
            continue
        if out and (token in ",.;:!?)]}%…»" or out[-1] in "([{«¿¡"):
            out[-1] += token
        else:
            out.append(token)
        run = [token] if unspaced else []
    return " ".join(out)


def _is_unspaced(token: str) -> bool:
    return _UNSPACED_TOKEN.fullmatch(token) is not None


def normalize_for_key(text: str) -> str:
    """Case-folded, cleaned text for dedup hashes and cache keys."""
    return clean_text(text).casefold()


LengthReason = reason_enum("LengthReason", __name__)


@dataclass(frozen=True)
class LengthBounds:
    """Bounds on a text's characters and word tokens; each stage config gives its own (``.lengths``)."""

    min_chars: int = 0
    max_chars: int | None = None
    min_words: int = 0
    max_words: int | None = None


def count_words(text: str) -> int:
    return sum(1 for token in tokenize_words(text) if is_word(token))


def length_problem(text: str, bounds: LengthBounds) -> LengthReason | None:
    """Why ``text`` is outside ``bounds`` (characters first, then words), or None."""
    if not text:
        return LengthReason.EMPTY
    if len(text) < bounds.min_chars:
        return LengthReason.TOO_SHORT
    if bounds.max_chars is not None and len(text) > bounds.max_chars:
        return LengthReason.TOO_LONG
    if bounds.min_words or bounds.max_words is not None:
        words = count_words(text)
        if words < bounds.min_words:
            return LengthReason.TOO_FEW_WORDS
        if bounds.max_words is not None and words > bounds.max_words:
            return LengthReason.TOO_MANY_WORDS
    return None
