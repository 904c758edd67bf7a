"""The shared tokenization: split_words gives tokenize_words' tokens and the spaces between them."""
from __future__ import annotations

import random
import sys
import unicodedata

import pytest

from babelshard.textnorm import SPACE_CHARS, detokenize, segment_unspaced, split_words, tokenize_words

ASCII = "".join(map(chr, range(128)))


def random_texts(alphabet: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(30))) for _ in range(count)]


def test_split_words_is_the_tokens_and_the_spaces_between():
    texts = [ASCII, ASCII[::-1], "", "   ", "A dog's T-shirt, ice-cream--and _x_ 'quoted' 9-5.", "a\x1cb\x1fc\td"]
    texts += random_texts("aZ09 '-_.,\t\x1c\x1f!", 3000, 0)  # the ASCII fast path and its edge cases
    texts += ["Straße – ÉLAN  vital…", "naïve café’s 東京タワー and 서울", "x\u00a0y\u2009z"]
    texts += random_texts("aé ß’'-_東,\u00a0\x1c", 1000, 1)  # the general pattern
    for text in texts:
        parts = split_words(text)
        assert parts[1::2] == tokenize_words(text), text
        assert "".join(parts) == text and not "".join(parts[::2]).strip(), text


# ---- words of every script --------------------------------------------------------

# Languages written with spaces whose words have combining marks (or, for Korean, are
# several syllables): each real word from wordfreq's lists must be one token.
SPACED = ["hi", "ta", "bn", "ur", "fa", "ar", "he", "ru", "ko", "vi", "el", "tr"]
UNSPACED = ["ja", "zh"]
# The first verse of Genesis, pointed: Hebrew with vowel points and cantillation-free marks.
POINTED_HEBREW = "בְּרֵאשִׁית בָּרָא אֱלֹהִים אֵת הַשָּׁמַיִם וְאֵת הָאָרֶץ"


def wordfreq_words(lang: str, count: int = 3000) -> list[str]:
    wordfreq = pytest.importorskip("wordfreq")
    words = wordfreq.top_n_list(lang, count)
    # Plain words only: letters and marks (wordfreq keeps a few with digits or apostrophes).
    return [w for w in words if all(unicodedata.category(ch)[0] in "LM" for ch in w)]


def starts_with_a_mark(token: str) -> bool:
    return unicodedata.category(token[0]).startswith("M")


def test_space_chars_are_exactly_what_str_isspace_accepts():
    import regex

    space = regex.compile(f"[{SPACE_CHARS}]")
    mismatched = [hex(c) for c in range(sys.maxunicode + 1) if bool(space.fullmatch(chr(c))) != chr(c).isspace()]
    assert not mismatched


@pytest.mark.parametrize("lang", SPACED)
def test_real_words_of_spaced_scripts_are_one_token_each(lang):
    words = wordfreq_words(lang)
    assert len(words) > 1000
    split = [w for w in words if tokenize_words(w) != [w]]
    assert not split, f"{lang}: {len(split)} words split, e.g. {[(w, tokenize_words(w)) for w in split[:5]]}"
    text = " ".join(words[:500])
    assert tokenize_words(text) == words[:500]
    assert detokenize(tokenize_words(text)) == text


def test_pointed_hebrew_keeps_its_points():
    assert tokenize_words(POINTED_HEBREW) == POINTED_HEBREW.split()


@pytest.mark.parametrize("lang", UNSPACED)
def test_chinese_and_japanese_are_segmented_into_dictionary_words(lang):
    words = [w for w in wordfreq_words(lang, 2000) if len(w) >= 2]
    whole = [w for w in words if tokenize_words(w) == [w]]
    # ICU's dictionary and wordfreq's segmenter (jieba, MeCab) disagree on some words;
    # most frequent words are whole in both, none is split inside a character.
    assert len(whole) >= 0.8 * len(words), f"{lang}: {len(whole)} of {len(words)} whole"
    for word in words:
        assert "".join(tokenize_words(word)) == word
    sentence = "".join(words[:200])
    tokens = tokenize_words(sentence)
    assert "".join(tokens) == sentence and len(tokens) < len(sentence)  # words, not one token per character
    assert tokenize_words(detokenize(tokens)) == tokens


def cldr_names(lang: str) -> list[str]:
    """Names of languages and countries in ``lang`` from CLDR's locale data (Babel's copy)."""
    from babel import Locale

    display = Locale(lang)
    names = set()
    for code in ["en", "fr", "de", "es", "zh", "ja", "ru", "ar", "hi", "th", "lo", "km", "my", "vi", "ko", "pt", "it"]:
        names.add(display.languages[code])
    for country in ["US", "FR", "DE", "JP", "CN", "TH", "LA", "KH", "MM", "IN", "BR", "RU", "GB", "IT", "VN"]:
        names.add(display.territories[country])
    return sorted(names)


@pytest.mark.parametrize("lang", ["th", "lo", "km", "my"])
def test_thai_lao_khmer_and_myanmar_words_keep_every_mark(lang):
    names = cldr_names(lang)
    assert len(names) > 20
    for name in names:
        tokens = tokenize_words(name)
        assert "".join(tokens) == "".join(name.split()), (name, tokens)
        assert not any(starts_with_a_mark(t) for t in tokens), (name, tokens)  # no vowel sign torn off
    own = cldr_names(lang)  # the language's own name in itself is one dictionary word
    assert any(tokenize_words(n) == [n] for n in own)


def test_unspaced_runs_are_segmented_by_icu_and_joined_back():
    for run in ["ภาษาไทย", "東京タワー", "ကျွန်တော်", "ພາສາລາວ", "ខ្ញុំ"]:
        assert "".join(segment_unspaced(run)) == run
    assert tokenize_words("Tシャツ") == ["T", "シャツ"]
    assert tokenize_words("naïve 안녕하세요 #️⃣") == ["naïve", "안녕하세요", "#️⃣"]
