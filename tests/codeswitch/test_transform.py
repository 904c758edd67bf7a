"""The code-switch transform: determinism, ratios (binomial bounds), tags, matching, case."""
from __future__ import annotations

import math
from collections import Counter

import pytest

from babelshard.codeswitch.lexfile import Pair
from babelshard.codeswitch.lexicon import Lexicon
from babelshard.codeswitch.transform import (RandomStream, SwitchParams, _fold_caption, code_switch, code_switch_variants,
                                             coverage, fold, segment)
from babelshard.textnorm import is_word, split_words, tokenize_words

KEYS = [f"key-{i}" for i in range(120)]


@pytest.fixture(scope="module")
def lexicon(fra_pairs, cldr_pairs, deu_subset):
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    return Lexicon.from_pairs(fra_pairs + cldr_pairs + import_freedict(deu_subset, "en", "de"))


def within_binomial(successes: int, trials: int, p: float, sigmas: float = 5.0) -> bool:
    spread = sigmas * math.sqrt(trials * p * (1 - p))
    return abs(successes - trials * p) <= spread


def _runs(captions, lexicon, params, keys=KEYS):
    """Every caption under many sample keys: the draws depend on the key, so each (caption, key) is a trial."""
    return [(text, code_switch(text, f"{n}/{key}", 0, lexicon, params)) for n, text in enumerate(captions) for key in keys]


def test_same_key_and_variant_give_the_same_output(captions, lexicon, fra_pairs, cldr_pairs, deu_subset):
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    rebuilt = Lexicon.from_pairs(fra_pairs + cldr_pairs + import_freedict(deu_subset, "en", "de"))
    params = SwitchParams(word_ratio=0.5)
    for text in captions:
        first = [code_switch(text, key, v, lexicon, params) for key in KEYS[:5] for v in range(3)]
        assert first == [code_switch(text, key, v, rebuilt, params) for key in KEYS[:5] for v in range(3)]
        assert len({r.text for r in first}) > 1  # keys and variants do vary the output
    seeded = SwitchParams(word_ratio=0.5, seed=1)
    assert any(code_switch(t, "k", 0, lexicon, params) != code_switch(t, "k", 0, lexicon, seeded) for t in captions)
    many = code_switch_variants(captions[0], "k", 4, lexicon, params)
    assert many == [code_switch(captions[0], "k", v, lexicon, params) for v in range(4)]


def test_sent_ratio_is_honoured(captions, lexicon):
    for ratio in (0.0, 0.3, 1.0):
        results = _runs(captions, lexicon, SwitchParams(sent_ratio=ratio))
        selected = sum(r is not None for _, r in results)
        assert within_binomial(selected, len(results), ratio) if 0 < ratio < 1 else selected == ratio * len(results)


@pytest.mark.parametrize("mode", ["per_word", "per_caption"])
def test_word_ratio_is_honoured(captions, lexicon, mode):
    ratio = 0.3
    results = _runs(captions, lexicon, SwitchParams(word_ratio=ratio, language_mode=mode))
    units = sum(len(segment(fold(tokenize_words(text)), lexicon)) for text, _ in results)
    switched = sum(r.switched for _, r in results)
    if mode == "per_word":  # every unit has a translation in some language of C
        assert within_binomial(switched, units, ratio)
    else:  # only units the caption's language translates are candidates
        assert 0 < switched < units * ratio
    assert sum(r.switched for _, r in _runs(captions, lexicon, SwitchParams(word_ratio=0.0))) == 0


def test_language_tags_and_tokens(captions, lexicon, fra_pairs, cldr_pairs):
    translation_tokens: dict[str, set[str]] = {}
    for lang, options in ((lang, opts) for entry in lexicon.entries.values() for lang, opts in zip(entry[0], entry[1])):
        bucket = translation_tokens.setdefault(lang, set())
        for option in options:
            bucket.update(t.casefold() for t in tokenize_words(option if isinstance(option, str) else option[0]))
    for text, result in _runs(captions, lexicon, SwitchParams(word_ratio=0.6), KEYS[:40]):
        assert len(result.tokens) == len(result.langs)
        assert list(result.tokens) == tokenize_words(result.text)
        source = [t for t, lang in zip(result.tokens, result.langs) if lang == "en"]
        remaining = iter(tokenize_words(text))
        assert all(any(token == original for original in remaining) for token in source)  # an ordered subsequence
        for token, lang in zip(result.tokens, result.langs):
            if lang != "en":
                assert token.casefold() in translation_tokens[lang]
    per_caption = _runs(captions, lexicon, SwitchParams(word_ratio=1.0, language_mode="per_caption"), KEYS[:20])
    assert all(len(set(r.langs) - {"en"}) <= 1 for _, r in per_caption)
    assert len({lang for _, r in per_caption for lang in r.langs}) > 3


def test_longest_match_capitalization_and_spacing():
    pairs = [Pair("en", s, "de", t, 1.0, "t") for s, t in
             [("ice", "Eis"), ("cream", "Sahne"), ("ice cream", "Eiscreme"), ("dog", "Hund"), ("red", "rot"), ("house", "Haus")]]
    lexicon = Lexicon.from_pairs(pairs)
    always = SwitchParams(word_ratio=1.0)
    result = code_switch("ice cream and ICE, then cream", "k", 0, lexicon, always)
    assert result.text == "Eiscreme and EIS, then Sahne" and result.switched == 3
    assert result.langs == ("de", "en", "de", "en", "en", "de")
    assert code_switch("Dog near a red  house.", "k", 0, lexicon, always).text == "Hund near a rot  Haus."
    assert code_switch("Red house", "k", 0, lexicon, always).text == "Rot Haus"
    nothing = code_switch("Nothing to see here!", "k", 0, lexicon, always)
    assert nothing.switched == 0 and nothing.text == "Nothing to see here!" and set(nothing.langs) == {"en"}
    empty = code_switch("", "k", 0, lexicon, always)
    assert empty.tokens == () and empty.text == ""


def naive_units(folded: list[str], lexicon: Lexicon, longest: int = 4) -> list[tuple]:
    """Greedy longest match by joining tokens and looking the key up: the reference for the trie walk."""
    units, i = [], 0
    while i < len(folded):
        for stop in range(min(len(folded), i + longest), i, -1):
            entry = lexicon.entries.get(" ".join(folded[i:stop]))
            if entry is not None:
                units.append((i, stop, entry))
                i = stop
                break
        else:
            i += 1
    return units


def test_segment_is_greedy_longest_match(captions, lexicon):
    texts = captions + [text.upper() for text in captions] + [text.title() for text in captions]
    texts += ["a lot of ice cream in the end", "A lot of the ice  cream cone", "Straße: ÉLAN vital, ice cream"]
    multi = 0
    for text in texts:
        tokens = split_words(text)[1::2]
        folded = fold(tokens)
        assert _fold_caption(text, tokens) == folded and tokens == split_words(text)[1::2]
        units = segment(folded, lexicon)
        assert units == naive_units(folded, lexicon), text
        multi += sum(stop - start > 1 for start, stop, _ in units)
    assert multi > 10


def test_the_seen_words_cache_changes_nothing_and_stays_bounded(captions, lexicon, monkeypatch):
    from babelshard.codeswitch import transform

    params = SwitchParams(word_ratio=0.5)
    lexicon.seen_words.clear()
    cold = [code_switch(text, key, 0, lexicon, params) for text in captions for key in KEYS[:3]]
    assert lexicon.seen_words and cold == [code_switch(text, key, 0, lexicon, params) for text in captions for key in KEYS[:3]]
    monkeypatch.setattr(transform, "SEEN_WORDS_MAX", 5)
    lexicon.seen_words.clear()
    assert cold == [code_switch(text, key, 0, lexicon, params) for text in captions for key in KEYS[:3]]
    assert len(lexicon.seen_words) < 5 + 40  # filled up to the bound, plus at most one caption's words


def test_translation_chosen_uniformly_or_by_score():
    pairs = [Pair("en", "dog", "de", "Hund", 3.0, "t"), Pair("en", "dog", "de", "Köter", 1.0, "t")]
    lexicon = Lexicon.from_pairs(pairs)
    keys = [f"k{i}" for i in range(3000)]
    for choice, p_hund in (("uniform", 0.5), ("score", 0.75)):
        params = SwitchParams(word_ratio=1.0, translation_choice=choice)
        picked = Counter(code_switch("dog", key, 0, lexicon, params).text for key in keys)
        assert set(picked) == {"Hund", "Köter"} and within_binomial(picked["Hund"], len(keys), p_hund)


def test_languages_drawn_uniformly_per_word(cldr_pairs):
    lexicon = Lexicon.from_pairs(cldr_pairs)
    languages = lexicon.entries["dog"][0]
    params = SwitchParams(word_ratio=1.0)
    drawn = Counter(code_switch("dog", f"k{i}", 0, lexicon, params).langs[0] for i in range(2600))
    assert set(drawn) == set(languages)
    assert all(within_binomial(n, 2600, 1 / len(languages)) for n in drawn.values())


def test_coverage_counts_words_with_a_translation(captions):
    pairs = [Pair("en", s, "de", t, 1.0, "t") for s, t in [("dog", "Hund"), ("cat", "Katze"), ("ice cream", "Eis")]]
    pairs.append(Pair("en", "dog", "fr", "chien", 1.0, "t"))
    lexicon = Lexicon.from_pairs(pairs)
    words, covered = coverage("Dog, cat and ice cream!", lexicon)
    assert words == 5 and covered == {"de": 4, "fr": 1}
    for text in captions:
        words, covered = coverage(text, lexicon)
        tokens = [t.casefold() for t in tokenize_words(text)]
        assert words == sum(is_word(t) for t in tokens)
        assert covered.get("fr", 0) == tokens.count("dog")


def test_parameters_and_random_stream_are_checked():
    with pytest.raises(ValueError, match="word_ratio"):
        SwitchParams(word_ratio=1.5)
    with pytest.raises(ValueError, match="language_mode"):
        SwitchParams(language_mode="sometimes")
    stream, again = RandomStream(b"x"), RandomStream(b"x")
    assert [stream.u32() for _ in range(40)] == list(again.take(3)) + list(again.take(37))


def test_the_trainer_can_import_the_transform_without_beam():
    import subprocess
    import sys

    code = ("import sys, babelshard.codeswitch.transform, babelshard.codeswitch.loading; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('apache_beam', 'torch')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
