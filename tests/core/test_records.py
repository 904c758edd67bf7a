from __future__ import annotations

import numpy as np
import pytest

from babelshard.records import Caption, CaptionSample, ParallelPair, TextSample, stable_key


def test_stable_key_depends_only_on_identity():
    assert stable_key("cc3m", "http://a/b.jpg") == stable_key("cc3m", "http://a/b.jpg")
    assert stable_key("cc3m", "http://a/b.jpg") != stable_key("cc12m", "http://a/b.jpg")
    assert "." not in stable_key("x", "y.z")


def test_caption_sample_round_trip_keeps_every_member(records):
    record = records[0]
    record = CaptionSample(
        **{**record.__dict__, "codeswitched": ({"variant": 0, "text": "emoji Nummer 0"},), "features": {"clip_image": np.arange(4, dtype=np.float32)},
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
    import json

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
