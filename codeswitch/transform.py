"""M3P-style code-switching of one caption: a pure, deterministic function, no Beam.

``code_switch(text, key, variant, lexicon, params)``:

1. A random stream is seeded by (``params.seed``, sample key, variant number), so the
   same caption, key and variant always give the same output, on any machine.
2. With probability ``sent_ratio`` the variant is code-switched at all; otherwise
   the result is ``None`` (the English caption as it is).
3. The caption is split with :func:`babelshard.textnorm.tokenize_words` (words and
   punctuation); lexicon terms are matched longest first ("ice cream" before "ice").
4. Every matched unit is switched with probability ``word_ratio`` (β). Its language
   is drawn uniformly from the languages of C that translate it (``per_word``, M3P),
   or one language is drawn per caption and only its translations are used
   (``per_caption``). The translation is drawn uniformly (M3P) or by score. One draw
   per token does all of it for the unit starting there (see :func:`_switch`).
5. Capitalization is carried over: "Dog" -> "Hund"/"Chien", "DOG" -> "HUND"; a
   lowercase word keeps the dictionary's spelling (German nouns stay capitalized).
6. The result has the switched text (the caption's own spacing kept around the
   switched words), the tokens and one language tag per token.

The trainer imports this module for on-the-fly switching; it has no Beam import:

    from babelshard.codeswitch.loading import cached_lexicon, switch_params
    lexicon = cached_lexicon(cfg)                # a CodeSwitchConfig; once per process
    variant = code_switch(caption, sample_key, epoch, lexicon, switch_params(cfg))
    # variant.text, variant.tokens, variant.langs; None: use the English caption
"""
from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import partial
from hashlib import blake2b
from itertools import compress, islice
from operator import itemgetter, not_
from typing import Literal, NamedTuple

from babelshard.codeswitch.lexicon import NO_NODE, Lexicon
from babelshard.records import CodeSwitchVariant
from babelshard.textnorm import is_word, split_words, tokenize_words

_SCALE = 1 << 32
_UNPACK = struct.Struct("<16I").unpack
_NEXT_WORDS = itemgetter(1)
# Words whose trie nodes a lexicon keeps for matching (Lexicon.seen_words, about 10 MB
# when full): caption streams repeat a small vocabulary, and a dict of it is faster to
# look up than the one of every first word of the lexicon.
SEEN_WORDS_MAX = 100_000


@dataclass(frozen=True)
class SwitchParams:
    sent_ratio: float = 1.0
    word_ratio: float = 0.5
    language_mode: Literal["per_word", "per_caption"] = "per_word"
    translation_choice: Literal["uniform", "score"] = "uniform"
    seed: int = 0
    sent_cut: int = field(init=False, repr=False, compare=False)
    word_cut: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("sent_ratio", "word_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if self.language_mode not in ("per_word", "per_caption"):
            raise ValueError(f"language_mode must be per_word or per_caption, got {self.language_mode!r}")
        if self.translation_choice not in ("uniform", "score"):
            raise ValueError(f"translation_choice must be uniform or score, got {self.translation_choice!r}")
        object.__setattr__(self, "sent_cut", threshold(self.sent_ratio))
        object.__setattr__(self, "word_cut", threshold(self.word_ratio))


class Switched(NamedTuple):
    """One code-switched variant of a caption (a NamedTuple: cheap to make, immutable)."""

    variant: int
    text: str
    tokens: tuple[str, ...]
    langs: tuple[str, ...]
    switched: int  # units replaced by a translation

    def as_variant(self) -> CodeSwitchVariant:
        """The variant as the caption record stores it (``cs.json``)."""
        return CodeSwitchVariant(self.variant, self.text, self.tokens, self.langs)


_new_switched = partial(tuple.__new__, Switched)  # without NamedTuple's Python-level __new__


class RandomStream:
    """Uniform 32-bit draws from BLAKE2b of the seed material (16 per hash, rehashed as needed).

    Cheaper to seed than ``random.Random`` (which costs ~10 µs) and the same everywhere.
    :func:`code_switch` draws this stream with the steps inlined (no object per caption).
    """

    __slots__ = ("_digest", "_values", "_next")

    def __init__(self, material: bytes):
        self._digest = blake2b(material, digest_size=64).digest()
        self._values = _UNPACK(self._digest)
        self._next = 0

    def u32(self) -> int:
        if self._next == 16:
            self._digest = blake2b(self._digest, digest_size=64).digest()
            self._values = _UNPACK(self._digest)
            self._next = 0
        value = self._values[self._next]
        self._next += 1
        return value

    def take(self, count: int) -> tuple[int, ...]:
        """The next ``count`` draws at once (what one caption needs, without a call per draw)."""
        values = self._values[self._next :]
        while len(values) < count:
            self._digest = blake2b(self._digest, digest_size=64).digest()
            self._values = _UNPACK(self._digest)
            values += self._values
        self._next = 16 - (len(values) - count)
        return values[:count]


def seed_material(seed: int, key: str, variant: int) -> bytes:
    return f"{seed}\x1f{key}\x1f{variant}".encode("utf-8")


def threshold(probability: float) -> int:
    """Draws below this are "yes" with the given probability (1.0: always)."""
    return round(probability * _SCALE)


def segment(folded: list[str], lexicon: Lexicon) -> list[tuple[int, int, tuple]]:
    """Longest-match units ``(start, stop, entry)`` over case-folded tokens (a walk of the word trie)."""
    nodes, stops = _match(folded, lexicon)
    return [(i, stops.get(i, i + 1), node[0]) for i, node in enumerate(nodes) if node[0] is not None]


def _match(folded: list[str], lexicon: Lexicon) -> tuple[list[tuple], dict[int, int]]:
    """Longest match: per token the trie node whose entry is the unit starting there (entry
    ``None``: none starts there), and the stops of the multi-word units (others stop at i + 1).

    Whole-list passes in C find every token's node and every two-word prefix; only the
    tokens that start a two-word prefix (about 2 in 11) walk the trie in Python. Greedy
    left to right: a multi-word unit covers the tokens after its first, which start nothing.
    """
    n = len(folded)
    nodes = list(map(lexicon.seen_words.get, folded))
    if not all(nodes):  # words not looked up before (a node is a non-empty tuple: true)
        _look_up(folded, nodes, lexicon)
    seconds = list(map(dict.get, map(_NEXT_WORDS, nodes), islice(folded, 1, None)))
    stops: dict[int, int] = {}
    resume = 0
    for i in compress(range(n - 1), seconds):  # a node is a non-empty tuple: true
        if i < resume:
            continue
        found = node = seconds[i]
        stop = i + 2 if node[0] is not None else 0  # 0: no term of two words or more starts here
        children, j = node[1], i + 2
        while children and j < n:
            node = children.get(folded[j])
            if node is None:
                break
            j += 1
            if node[0] is not None:
                found, stop = node, j
            children = node[1]
        if stop:
            nodes[i] = found
            nodes[i + 1 : stop] = [NO_NODE] * (stop - i - 1)
            stops[i] = resume = stop
    return nodes, stops


def _look_up(folded: list[str], nodes: list, lexicon: Lexicon) -> None:
    """Fills in the nodes of the words missing from ``lexicon.seen_words``, and remembers
    them there while it holds fewer than ``SEEN_WORDS_MAX`` words."""
    first, seen = lexicon.first, lexicon.seen_words
    keep = len(seen) < SEEN_WORDS_MAX
    for i in compress(range(len(nodes)), map(not_, nodes)):
        nodes[i] = node = first.get(folded[i]) or NO_NODE
        if keep:
            seen[folded[i]] = node


def fold(tokens: list[str]) -> list[str]:
    # Tokens never contain spaces, so one casefold over the joined string is exact.
    return " ".join(tokens).casefold().split(" ") if tokens else []


def _fold_caption(text: str, tokens: list[str]) -> list[str]:
    """:func:`fold` of the caption's tokens; a new list, as the caller changes ``tokens``."""
    if text.isascii() and text[1:].islower():  # as most captions: at most the first letter is upper case
        folded = tokens[:]
        folded[0] = folded[0].lower()  # lower() is casefold() on ASCII
        return folded
    return fold(tokens)


def code_switch(text: str, key: str, variant: int, lexicon: Lexicon, params: SwitchParams) -> Switched | None:
    """One variant of ``text``; ``None`` when this variant is not selected (``sent_ratio``)."""
    digest = blake2b(seed_material(params.seed, key, variant)).digest()  # 64 bytes: 16 draws
    values = _UNPACK(digest)  # the start of RandomStream(material), inlined: this runs per caption
    if values[0] >= params.sent_cut:
        return None
    parts = split_words(text)
    tokens = parts[1::2]
    nodes, stops = _match(_fold_caption(text, tokens), lexicon)
    return _switch(text, parts, tokens, nodes, stops, variant, digest, values, lexicon, params)


def code_switch_variants(text: str, key: str, variants: int, lexicon: Lexicon, params: SwitchParams) -> list[Switched]:
    """Variants ``0..variants-1`` that are selected; the caption is tokenized and matched once."""
    out, parts, tokens, nodes, stops = [], None, None, None, None
    for variant in range(variants):
        digest = blake2b(seed_material(params.seed, key, variant)).digest()
        values = _UNPACK(digest)
        if values[0] >= params.sent_cut:
            continue
        if parts is None:
            parts = split_words(text)
            tokens = parts[1::2]
            nodes, stops = _match(_fold_caption(text, tokens), lexicon)
        out.append(_switch(text, parts[:], tokens[:], nodes, stops, variant, digest, values, lexicon, params))
    return out


def _switch(text: str, parts: list[str], tokens: list[str], nodes: list[tuple], stops: dict[int, int], variant: int,
            digest: bytes, values: tuple[int, ...], lexicon: Lexicon, params: SwitchParams) -> Switched:
    """The draws of :class:`RandomStream` after the sentence draw: one picks the caption's
    language; then one per token: a unit starting at token i is switched when draw i is
    below ``word_cut`` (probability β), and the same draw, uniform below the cut, picks the
    language and (with what remains of it) the translation.

    Writes the switched tokens into ``parts`` and ``tokens`` (the caller's copies)."""
    n = len(tokens)
    while len(values) < 2 + n:
        digest = blake2b(digest).digest()
        values += _UNPACK(digest)
    cut = params.word_cut
    caption_lang = None
    if params.language_mode == "per_caption" and lexicon.languages:
        caption_lang = lexicon.languages[(values[1] * len(lexicon.languages)) >> 32]
    per_token = values[2 : 2 + n]
    by_score = params.translation_choice == "score"
    langs_out = [lexicon.source_language] * n
    longer = []  # units of several tokens, or translated into several: spliced in afterwards
    switched = 0
    for start, (entry, _), value in compress(zip(range(n), nodes, per_token), map(cut.__gt__, per_token)):
        if entry is None:
            continue
        langs, options, cumulative = entry
        if caption_lang is not None:
            if caption_lang not in langs:
                continue
            j = langs.index(caption_lang)
        elif len(langs) == 1:
            j = 0
        else:
            j, value = divmod(value * len(langs), cut)  # the remainder is again uniform below the cut
        opts = options[j]
        if len(opts) == 1:
            option = opts[0]
        elif by_score:
            weights = cumulative[j]
            option = opts[min(bisect_right(weights, value / cut * weights[-1]), len(opts) - 1)]
        else:
            option = opts[value * len(opts) // cut]
        switched += 1
        first = tokens[start]
        if start not in stops and isinstance(option, str):
            # first.islower(): case_mode would say "keep" (cheaper to test than each case)
            parts[2 * start + 1] = tokens[start] = option if first.islower() else match_case(case_mode(first), option)
            langs_out[start] = langs[j]
        else:
            longer.append((start, stops.get(start, start + 1), langs[j], option))
    if not switched:
        return _new_switched((variant, text, tuple(tokens), tuple(langs_out), 0))
    if longer:
        _splice(parts, tokens, langs_out, longer)
    return _new_switched((variant, "".join(parts), tuple(tokens), tuple(langs_out), switched))


def _splice(parts: list[str], tokens: list[str], langs_out: list[str], longer: list[tuple]) -> None:
    """Replaces each unit ``(start, stop, lang, option)`` by its translation's tokens."""
    for start, stop, lang, option in reversed(longer):  # from the end, so earlier indices stay valid
        first = tokens[start]
        new_text, new_tokens = (option, [option]) if isinstance(option, str) else (option[0], option[1:])
        if not first.islower():
            mode = case_mode(first)
            new_text = match_case(mode, new_text)
            new_tokens = [t.upper() for t in new_tokens] if mode == "upper" else [match_case(mode, new_tokens[0]), *new_tokens[1:]]
        parts[2 * start + 1 : 2 * stop] = [new_text]  # the unit's tokens and the spaces between them
        tokens[start:stop] = new_tokens
        langs_out[start:stop] = [lang] * len(new_tokens)


def case_mode(token: str) -> str:
    """``upper`` for "DOG", ``title`` for "Dog", ``keep`` otherwise (one letter "A" is title)."""
    if len(token) > 1 and token.isupper():
        return "upper"
    return "title" if token[:1].isupper() else "keep"


def match_case(mode: str, replacement: str) -> str:
    if mode == "upper":
        return replacement.upper()
    if mode == "title" and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def coverage(text: str, lexicon: Lexicon) -> tuple[int, dict[str, int]]:
    """Word tokens in ``text`` and, per language, how many of them have a translation."""
    tokens = tokenize_words(text)
    words = sum(1 for token in tokens if is_word(token))
    covered: dict[str, int] = {}
    for start, stop, entry in segment(fold(tokens), lexicon):
        count = sum(1 for token in tokens[start:stop] if is_word(token))
        for lang in entry[0]:
            covered[lang] = covered.get(lang, 0) + count
    return words, covered
