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
   (``per_caption``). The translation is drawn uniformly (M3P) or by score.
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
from hashlib import blake2b
from typing import Any, Literal, NamedTuple

from babelshard.codeswitch.lexicon import Lexicon
from babelshard.textnorm import is_word, tokenize_words

_SCALE = 1 << 32
_UNPACK = struct.Struct("<16I").unpack


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

    def as_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "text": self.text, "tokens": list(self.tokens), "langs": list(self.langs)}


class RandomStream:
    """Uniform 32-bit draws from BLAKE2b of the seed material (16 per hash, rehashed as needed).

    Cheaper to seed than ``random.Random`` (which costs ~10 µs) and the same everywhere.
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
    n = len(folded)
    units, resume = [], 0
    for i, node in enumerate(map(lexicon.first.get, folded)):  # one C-level pass of first-word lookups
        if node is None or i < resume:
            continue
        entry, stop, children, j = node[0], i + 1, node[1], i + 1
        while children is not None and j < n:
            node = children.get(folded[j])
            if node is None:
                break
            j += 1
            if node[0] is not None:
                entry, stop = node[0], j
            children = node[1]
        if entry is not None:
            units.append((i, stop, entry))
            resume = stop
    return units


def fold(tokens: list[str]) -> list[str]:
    # Tokens never contain spaces, so one casefold over the joined string is exact.
    return " ".join(tokens).casefold().split(" ") if tokens else []


def code_switch(text: str, key: str, variant: int, lexicon: Lexicon, params: SwitchParams) -> Switched | None:
    """One variant of ``text``; ``None`` when this variant is not selected (``sent_ratio``)."""
    draws = RandomStream(seed_material(params.seed, key, variant))
    if draws.u32() >= params.sent_cut:
        return None
    tokens = tokenize_words(text)
    return _switch_units(text, tokens, segment(fold(tokens), lexicon), variant, draws, lexicon, params)


def code_switch_variants(text: str, key: str, variants: int, lexicon: Lexicon, params: SwitchParams) -> list[Switched]:
    """Variants ``0..variants-1`` that are selected; the caption is tokenized and matched once."""
    out, tokens, units = [], None, None
    for variant in range(variants):
        draws = RandomStream(seed_material(params.seed, key, variant))
        if draws.u32() >= params.sent_cut:
            continue
        if tokens is None:
            tokens = tokenize_words(text)
            units = segment(fold(tokens), lexicon)
        out.append(_switch_units(text, tokens, units, variant, draws, lexicon, params))
    return out


def _switch_units(text: str, tokens: list[str], units: list, variant: int, draws: RandomStream,
                  lexicon: Lexicon, params: SwitchParams) -> Switched:
    """Per unit one draw decides β; for the chosen, one draw picks the language and (with the
    rest of its bits) the translation. One more draw per caption picks its language."""
    count = len(units)
    values = draws.take(1 + 2 * count)
    cut = params.word_cut
    chosen = [(unit, values[1 + count + k]) for k, (unit, value) in enumerate(zip(units, values[1 : 1 + count])) if value < cut]
    caption_lang = None
    if params.language_mode == "per_caption" and lexicon.languages:
        caption_lang = lexicon.languages[(values[0] * len(lexicon.languages)) >> 32]
    by_score = params.translation_choice == "score"
    choices = []
    for (start, stop, (langs, options, cumulative)), value in chosen:
        if caption_lang is None:
            scaled = value * len(langs)
            j, value = scaled >> 32, scaled & 0xFFFFFFFF  # the remainder is again uniform
        elif caption_lang in langs:
            j = langs.index(caption_lang)
        else:
            continue
        opts = options[j]
        if len(opts) == 1:
            pick = 0
        elif by_score:
            weights = cumulative[j]
            pick = min(bisect_right(weights, value / _SCALE * weights[-1]), len(opts) - 1)
        else:
            pick = (value * len(opts)) >> 32
        choices.append((start, stop, langs[j], opts[pick]))
    if not choices:
        return Switched(variant, text, tuple(tokens), (lexicon.source_language,) * len(tokens), 0)
    return _assemble(text, tokens, choices, lexicon.source_language, variant)


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


def _assemble(text: str, tokens: list[str], choices: list, source: str, variant: int) -> Switched:
    out_tokens, out_langs, pieces = [], [], []
    prev_token = prev_char = cursor = i = 0
    find = text.find
    for start, stop, lang, option in choices:
        # Only whitespace lies between tokens, so finding each token in turn gives its offset.
        while i < start:
            cursor = find(tokens[i], cursor) + len(tokens[i])
            i += 1
        begin = find(tokens[start], cursor)
        while i < stop:
            cursor = find(tokens[i], cursor) + len(tokens[i])
            i += 1
        first = tokens[start]
        if isinstance(option, str):
            new_text = option if first[0].islower() else match_case(case_mode(first), option)
            out_tokens += tokens[prev_token:start]
            out_tokens.append(new_text)
            out_langs += [source] * (start - prev_token)
            out_langs.append(lang)
        else:
            new_text, new_tokens = option[0], option[1:]
            if not first[0].islower():
                mode = case_mode(first)
                new_text = match_case(mode, new_text)
                new_tokens = [t.upper() for t in new_tokens] if mode == "upper" else [match_case(mode, new_tokens[0]), *new_tokens[1:]]
            out_tokens += tokens[prev_token:start]
            out_tokens += new_tokens
            out_langs += [source] * (start - prev_token)
            out_langs += [lang] * len(new_tokens)
        pieces.append(text[prev_char:begin])
        pieces.append(new_text)
        prev_token, prev_char = stop, cursor
    out_tokens += tokens[prev_token:]
    out_langs += [source] * (len(tokens) - prev_token)
    pieces.append(text[prev_char:])
    return Switched(variant, "".join(pieces), tuple(out_tokens), tuple(out_langs), len(choices))


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
