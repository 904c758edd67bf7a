"""Quality checks on real failures: Apertium outputs, a real (random) CTranslate2 model's
outputs, and fastText's real predictions."""
from __future__ import annotations

import pytest

from babelshard.testing import require_command
from babelshard.langid import LanguageReason
from babelshard.textnorm import LengthReason
from babelshard.translate import filters
from babelshard.translate.filters import FilterReason
from babelshard.translate.config import ApertiumEngineConfig, CTranslate2EngineConfig, FilterConfig
from babelshard.translate.engines import create_engine

CONFIG = FilterConfig()


@pytest.fixture(scope="module")
def apertium():
    require_command("apertium", "apertium-eng-spa")
    return create_engine(ApertiumEngineConfig(kind="apertium"))


@pytest.fixture(scope="module")
def lid(lid_model_path):
    from babelshard.langid import load_lid_model

    return load_lid_model(lid_model_path)


@pytest.fixture(scope="module")
def toy_engine(toy_marian):
    return lambda **kw: create_engine(CTranslate2EngineConfig(
        kind="ctranslate2", model_path=toy_marian.ctranslate2_dir, compute_type="float32", beam_size=1, **kw))


def check(source, translation, lid=None, target="es", config=CONFIG, score=None):
    predictions = filters.lid_predictions(lid, translation) if lid is not None else None
    return filters.check_translation(source, translation, target, config, score=score, predictions=predictions)


def reason(failure):
    return failure[0] if failure else None


def test_a_good_apertium_translation_passes_every_check(apertium, lid):
    source = "A woman riding a bicycle down a city street."
    [result] = apertium.translate([source], "en", "es")
    assert check(source, result.text, lid) is None


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_output(text):
    assert reason(check("A cat sleeping on a couch.", text)) == LengthReason.EMPTY


def test_source_passed_through_unchanged_by_apertium(apertium):
    [result] = apertium.translate(["Pizza"], "en", "es")  # a known word that Spanish keeps
    assert reason(check("Pizza", result.text)) == FilterReason.IDENTICAL


def test_mostly_untranslated_words_are_a_copy(apertium):
    source = "Instagram influencer selfie with iPhone"
    [result] = apertium.translate([source], "en", "es")  # only "with" is translated
    failure = check(source, result.text)
    assert reason(failure) == FilterReason.COPY and "0.80" in failure[1]


def test_wrong_language_of_a_half_translated_caption(apertium, lid):
    source = "Hipster barista latte art"
    [result] = apertium.translate([source], "en", "es")
    failure = check(source, result.text, lid)
    assert reason(failure) == LanguageReason.MISMATCH


def test_catalan_that_fasttext_reads_as_spanish_is_accepted_but_english_is_not(lid):
    catalan = "Una poma vermella en una taula de fusta."  # Apertium eng-cat; lid.176 ranks es first
    assert filters.lid_predictions(lid, catalan)[0][0] != "ca"
    assert check("A red apple on a wooden table.", catalan, lid, target="ca") is None
    english = "A red apple on a wooden table with a knife"
    assert reason(check("Una manzana roja", english, lid, target="es")) == LanguageReason.MISMATCH


def test_decoding_loop_of_a_real_model_is_repeated_ngrams(toy_engine):
    source = "red heart"
    [result] = toy_engine(max_decoding_length=12).translate([source], "en", "es")
    failure = check(source, result.text)
    assert reason(failure) == FilterReason.REPEATED_NGRAMS, result.text


def test_a_source_that_repeats_is_not_a_loop():
    source = "Run run run run rabbit run"
    assert filters.check_repeats(source, "Corre corre corre corre conejo corre", 4, 3) is None
    assert filters.check_repeats("Run rabbit", "Corre corre corre corre conejo corre", 4, 3)[0] == FilterReason.REPEATED_NGRAMS


def test_longest_repeat_finds_multi_word_loops():
    tokens = "a dog on a dog on a dog on a dog on the beach".split()
    assert filters.longest_repeat(tokens, 4) == (4, ("a", "dog", "on"))
    assert filters.longest_repeat(["x"], 4)[0] == 1 and filters.longest_repeat([], 4)[0] == 1


def test_truncated_output_fails_the_length_ratio(toy_engine):
    source = "A man standing on a beach holding a surfboard next to the sea."
    [result] = toy_engine(max_decoding_length=2).translate([source], "en", "es")
    config = FilterConfig(max_copy_ratio=1.0)
    assert reason(filters.check_translation(source, result.text, "es", config)) == FilterReason.LENGTH_RATIO
    wide = FilterConfig(length_ratio_overrides={"es": (0.01, 5.0)})
    assert filters.check_length_ratio(source, result.text, wide.length_ratio_overrides["es"], 12) is None


def test_low_engine_score(toy_engine):
    source = "A plate of food with rice and vegetables."
    [result] = toy_engine(max_decoding_length=8).translate([source], "en", "es")
    strict = FilterConfig(enabled=True, min_score=result.score + 0.5, max_copy_ratio=1.0, max_repeats=50,
                          min_length_ratio=0.01, max_length_ratio=50)
    assert reason(filters.check_translation(source, result.text, "es", strict, score=result.score)) == FilterReason.LOW_SCORE
    lenient = strict.model_copy(update={"min_score": result.score - 0.5})
    assert filters.check_translation(source, result.text, "es", lenient, score=result.score) is None


def test_random_model_output_is_wrong_language(toy_engine, lid):
    source = "A man standing on a beach holding a surfboard next to the sea."
    [result] = toy_engine(max_decoding_length=12).translate([source], "en", "es")
    predictions = filters.lid_predictions(lid, result.text)
    assert predictions[0][0] != "es"
    assert reason(filters.check_language(result.text, "en", "es", predictions, CONFIG)) == LanguageReason.MISMATCH
    assert filters.check_language(result.text, "en", predictions[0][0], predictions, CONFIG) is None
