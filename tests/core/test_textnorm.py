"""The shared tokenization: split_words gives tokenize_words' tokens and the spaces between them."""
from __future__ import annotations

import random

from babelshard.textnorm import split_words, tokenize_words

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
