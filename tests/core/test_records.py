from __future__ import annotations

import json

import numpy as np
import pytest

from babelshard.records import (
    RECORD_TYPES,
    RECORD_VIEWS,
    Caption,
    CaptionSample,
    CaptionView,
    CodeSwitchVariant,
    ParallelPair,
    ParallelView,
    TextSample,
    TextView,
    caption_member,
    feature_member,
    feature_name,
    member_language,
    stable_key,
    text_member,
)


def test_stable_key_depends_only_on_identity():
    assert stable_key("cc3m", "http://a/b.jpg") == stable_key("cc3m", "http://a/b.jpg")
    assert stable_key("cc3m", "http://a/b.jpg") != stable_key("cc12m", "http://a/b.jpg")
    assert "." not in stable_key("x", "y.z")


def test_caption_sample_round_trip_keeps_every_member(records):
    record = records[0]
    record = CaptionSample(
        **{**record.__dict__, "codeswitched": (CodeSwitchVariant(0, "emoji Nummer 0", ("emoji", "Nummer", "0"), ("en", "de", "en")),),
           "features": {"clip_image": np.arange(4, dtype=np.float32)},
           "extra_captions": {"en": ("a second caption",)}}
    )
    sample = record.to_sample()
    assert set(sample) == {"__key__", "png", "txt", "de.txt", "json", "cs.json", "clip_image.npy"}
    back = CaptionSample.from_sample(sample)
    assert back.captions == record.captions
    assert back.image == record.image and back.image_format == "png"
    assert back.meta == record.meta and back.extra_captions == record.extra_captions
    assert back.codeswitched == record.codeswitched
    np.testing.assert_array_equal(back.features["clip_image"], record.features["clip_image"])
    assert back.to_sample() == sample


def test_provenance_of_machine_translation_goes_into_json(records):
    meta = json.loads(records[0].to_sample()["json"])
    assert meta["languages"]["de"] == {"provenance": "mt", "engine": "ctranslate2", "model": "tiny", "score": -0.5}
    assert meta["languages"]["en"] == {"provenance": "human"}


def test_text_and_pair_round_trip(text_records, pair_records):
    for record in text_records + pair_records:
        assert type(record).from_sample(record.to_sample()) == record
    assert set(pair_records[0].to_sample()) == {"__key__", "en.txt", "fr.txt", "json"}


def test_pair_with_one_language_is_refused():
    with pytest.raises(ValueError, match="two languages"):
        ParallelPair("k", "en", "en", "a", "b", "src").to_sample()


def test_unknown_image_format_is_refused(records):
    bad = CaptionSample(key="k", source="s", url="u", captions={"en": Caption("x")}, image=b"x", image_format="tiff")
    with pytest.raises(ValueError, match="tiff"):
        bad.to_sample()


def test_member_names_come_from_one_place():
    assert caption_member("en") == "txt" and caption_member("de") == "de.txt" and text_member("en") == "en.txt"
    assert [member_language(m) for m in ("txt", "de.txt", "json", "cs.json", "pix.npy", "jpg")] == ["en", "de", None, None, None, None]
    assert feature_member("clip") == "clip.npy" and feature_name("clip.npy") == "clip" and feature_name("txt") is None


def test_caption_view_reads_what_the_record_wrote(records):
    variant = CodeSwitchVariant(1, "emoji Nummer 0", ("emoji", "Nummer", "0"), ("en", "de", "en"))
    record = CaptionSample(**{**records[0].__dict__, "codeswitched": (variant,), "features": {"pix": np.arange(3.0)},
                              "extra_captions": {"de": ("noch eine",)}})
    view = CaptionView(record.to_sample())
    assert view.key == record.key and view.languages == sorted(record.captions) == ["de", "en"]
    assert all(view.caption(lang) == c.text for lang, c in record.captions.items())
    assert view.has_caption("de") and not view.has_caption("fr")
    assert (view.image, view.image_format) == (record.image, "png")
    assert view.variants == (variant,)
    assert view.has_feature("pix") and not view.has_feature("clip")
    np.testing.assert_array_equal(view.feature("pix"), np.arange(3.0))
    assert view.extra_captions == {"de": ["noch eine"]} and view.meta["source"] == record.source
    plain = CaptionView(records[1].to_sample())
    assert plain.variants == () and plain.extra_captions == {}


def test_text_and_parallel_views(text_records, pair_records):
    text = TextView(text_records[0].to_sample())
    assert (text.key, text.text, text.language) == (text_records[0].key, "Satz 0.", "de")
    pair = ParallelView(pair_records[0].to_sample())
    assert pair.languages == ("en", "fr") and (pair.text("en"), pair.text("fr")) == ("File 0", "Fichier 0")
    assert set(RECORD_VIEWS) == set(RECORD_TYPES)


def test_variants_are_stored_as_the_json_the_trainer_reads():
    variant = CodeSwitchVariant(2, "ein dog", ("ein", "dog"), ("de", "en"))
    sample = CaptionSample("k", "s", "u", {"en": Caption("a dog")}, codeswitched=(variant,)).to_sample()
    assert json.loads(sample["cs.json"]) == [{"variant": 2, "text": "ein dog", "tokens": ["ein", "dog"], "langs": ["de", "en"]}]


def test_the_code_switched_tag_is_no_language_code():
    """``cs`` is Czech's ISO 639-1 code: a model with Czech among its languages would give
    code-switched captions Czech's language embedding."""
    import langcodes

    from babelshard.records import CODESWITCHED_LANGUAGE

    assert not langcodes.tag_is_valid(CODESWITCHED_LANGUAGE)
    assert CODESWITCHED_LANGUAGE not in {"cs", "en", "mix", "mul", "und", "zxx"}
