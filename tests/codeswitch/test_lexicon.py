"""The in-memory lexicon: keys in the shared tokenization, translation selection."""
from __future__ import annotations

from babelshard.codeswitch.lexfile import Pair
from babelshard.codeswitch.lexicon import Lexicon, LexiconBuild, option_text, option_tokens, term_key


def _pairs(rows, lang="de", origin="test"):
    return [Pair("en", s, lang, t, score, origin) for s, t, score in rows]


def test_keys_are_casefolded_shared_tokens():
    assert term_key("Ice Cream") == ("ice cream", ["Ice", "Cream"])
    assert term_key("T-shirt")[0] == "t-shirt"
    assert term_key("Mr. Smith")[0] == "mr . smith"
    lexicon = Lexicon.from_pairs(_pairs([("Ice Cream", "Eiscreme", 2.0), ("ice", "Eis", 1.0), ("ice cream cone", "Eistüte", 1.0)]))
    assert lexicon.translations("ICE cream") == {"de": ["Eiscreme"]}
    ice = lexicon.first["ice"]  # the word trie: (own entry, next words)
    assert ice[0] is not None and set(ice[1]) == {"cream"}
    assert ice[1]["cream"][0] is not None and ice[1]["cream"][1]["cone"] == (lexicon.entries["ice cream cone"], {})


def test_selection_by_score_count_and_length(deu_subset):
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    pairs = import_freedict(deu_subset, "en", "de")
    dog = sorted((p.score, p.target_term) for p in pairs if p.source_term == "dog")
    full = Lexicon.from_pairs(pairs, LexiconBuild(max_extra_words=9))
    assert full.translations("dog")["de"] == [t for s, t in sorted(dog, key=lambda item: (-item[0], item[1]))][:8]
    main_only = Lexicon.from_pairs(pairs, LexiconBuild(min_relative_score=0.5))
    best = max(score for score, _ in dog)
    assert set(main_only.translations("dog")["de"]) == {t for s, t in dog if s >= 0.5 * best}
    two = Lexicon.from_pairs(pairs, LexiconBuild(max_translations=2))
    assert all(len(options) <= 2 for entry in two.entries.values() for options in entry[1])
    assert two.stats.drops["lexicon/minor_translation"] > 0


def test_translation_length_languages_and_source_filters(fra_pairs, cldr_pairs):
    strict = Lexicon.from_pairs(fra_pairs, LexiconBuild(max_extra_words=1))
    assert "peau de vache" not in strict.translations("cat").get("fr", [])  # idiom: 3 words for 1
    assert strict.stats.drops["lexicon/translation_too_long"] > 0
    only = Lexicon.from_pairs(fra_pairs + cldr_pairs, LexiconBuild(languages=("de", "ja")))
    assert only.languages == ("de", "ja")
    assert Lexicon.from_pairs(fra_pairs, LexiconBuild(source_language="de")).entries == {}
    both = Lexicon.from_pairs(fra_pairs + cldr_pairs)
    assert set(both.translations("dog")) >= {"fr", "de", "ja"} and both.pair_count >= len(strict.entries)


def test_multi_token_translations_keep_text_and_tokens():
    lexicon = Lexicon.from_pairs(_pairs([("red apple", "roter Apfel", 1.0), ("apple", "Apfel", 1.0)]) +
                                 _pairs([("ice cream", "アイスクリーム", 1.0), ("strawberry", "いちごの果物", 1.0)], lang="ja"))
    langs, options, _ = lexicon.entries["red apple"]
    assert options[0] == (("roter Apfel", "roter", "Apfel"),)
    assert lexicon.entries["apple"][1][0] == ("Apfel",)
    # Japanese: ICU's segmenter gives the words; one word is a plain option, several keep the text.
    assert lexicon.entries["ice cream"][1][0][0] == "アイスクリーム"
    strawberry = lexicon.entries["strawberry"][1][0][0]
    assert option_text(strawberry) == "いちごの果物" and option_tokens(strawberry) == ("いちご", "の", "果物")
