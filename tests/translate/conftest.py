"""Fixtures of the translation tests: a tiny Marian model built once per session,
caption samples from real English captions, and caption shards written from them."""
from __future__ import annotations

import pytest

from babelshard.records import Caption, CaptionSample, stable_key

# Real English captions (COCO/CC3M style) with duplicates, as caption data has.
CAPTIONS = (
    "A red apple on a wooden table.",
    "Two dogs play in the park.",
    "A woman riding a bicycle down a city street.",
    "A plate of food with rice and vegetables.",
    "A man standing on a beach holding a surfboard.",
    "Two dogs play in the park.",
    "A cat sleeping on a couch.",
    "A red apple on a wooden table.",
    "A train traveling down tracks next to a forest.",
    "A red apple on a wooden table.",
)


@pytest.fixture(scope="session")
def toy_marian(tmp_path_factory):
    """SentencePiece trained on CLDR emoji names, a random Marian, converted to CTranslate2."""
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(tmp_path_factory.mktemp("toy-marian"))


def make_samples(captions=CAPTIONS, humans: dict[int, dict[str, str]] | None = None) -> list[CaptionSample]:
    samples = []
    for index, text in enumerate(captions):
        url = f"https://example.org/images/{index}.jpg"
        langs = {"en": Caption(text)}
        for lang, human in (humans or {}).get(index, {}).items():
            langs[lang] = Caption(human)
        samples.append(CaptionSample(key=stable_key("test", url), source="test", url=url, captions=langs))
    return samples


@pytest.fixture
def sample_factory():
    """``sample_factory(captions, humans={index: {lang: text}})`` -> caption samples."""
    return make_samples


@pytest.fixture
def caption_samples():
    return make_samples()


@pytest.fixture
def caption_shards(tmp_path, caption_samples):
    """A finished caption shard folder (two shards) written by the real shard writer."""
    from babelshard.shards.writer import write_records

    folder = str(tmp_path / "captions")
    write_records(folder, "caption", caption_samples, max_samples=6)
    return folder
