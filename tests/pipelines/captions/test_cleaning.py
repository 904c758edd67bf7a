"""Caption cleaning, deduplication and the fastText language check as plain functions."""
from __future__ import annotations

import itertools

import pytest

from babelshard.langid import LanguageIdConfig
from babelshard.pipelines.captions.cleaning import clean_caption, resolve_duplicates
from babelshard.pipelines.captions.config import CleaningConfig
from babelshard.pipelines.captions.language import check_languages
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.stats import Drop

SETTINGS = CleaningConfig(min_chars=3, max_chars=60, min_words=1, max_words=8)


def record(caption: str, url: str = "http://x/1.jpg", source: str = "s", **captions: str) -> CaptionSample:
    texts = {"en": caption, **captions}
    return CaptionSample(
        key=stable_key(source, url), source=source, url=url, captions={k: Caption(v) for k, v in texts.items()}
    )


def test_cleanup_nfc_controls_zero_width_and_spaces():
    raw = record("  Cafe\u0301\u200b  au\tlait\x07 ", de="Milchkaffee\u200d", fr="\u200b \u200c")
    cleaned = clean_caption(raw, SETTINGS)
    assert cleaned.captions["en"].text == "Café au lait"
    assert cleaned.captions["de"].text == "Milchkaffee"
    assert "fr" not in cleaned.captions  # nothing left of it; the sample itself stays
    assert cleaned.key == raw.key


@pytest.mark.parametrize(
    "caption, reason",
    [
        ("\u200b\u200d ", "empty"),
        ("ab", "too_short"),
        ("!!! ???", "too_few_words"),  # no word at all
        ("x" * 61, "too_long"),
        ("one two three four five six seven eight nine", "too_many_words"),
    ],
)
def test_length_bounds(caption, reason):
    result = clean_caption(record(caption), SETTINGS)
    assert isinstance(result, Drop) and (result.stage, result.reason) == ("clean", reason)


def test_the_same_record_is_kept_whatever_the_input_order():
    url = "http://x/dup.jpg"
    candidates = [
        record("a dog", url, source="b"),
        record("a dog", url, source="a"),
        record("another caption", url, source="a"),
    ]
    outcomes = set()
    for order in itertools.permutations(candidates):
        results = resolve_duplicates(order)
        kept = [r for r in results if isinstance(r, CaptionSample)]
        drops = sorted((d.key, d.reason) for d in results if isinstance(d, Drop))
        assert len(kept) == 1 and len(drops) == 2
        outcomes.add((kept[0].key, tuple(drops)))
    assert outcomes == {
        (stable_key("a", url), tuple(sorted([(stable_key("b", url), "duplicate_pair"), (stable_key("a", url), "duplicate_url")])))
    }


def test_language_check_with_fasttext(lid_model_path):
    from babelshard.langid import load_lid_model

    model = load_lid_model(lid_model_path)
    settings = LanguageIdConfig(model_path=lid_model_path, min_score=0.5)
    english, german = check_languages(
        [record("A brown dog runs across the green field."), record("Ein brauner Hund läuft über die grüne Wiese.")],
        model, settings,
    )
    assert isinstance(english, CaptionSample) and english.meta["langid"]["language"] == "en"
    assert isinstance(german, Drop) and german.reason == "lid_mismatch" and german.detail.startswith("de ")
    doubtful = check_languages([record("A brown dog runs across the green field.")], model, settings.model_copy(update={"min_score": 1.0}))
    assert doubtful[0].reason == "lid_low_score" and doubtful[0].detail.startswith("en ")
