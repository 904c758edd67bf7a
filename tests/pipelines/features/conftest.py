"""Fixtures of the model-stage tests: small real OpenMoji caption shards (rendered
emoji, CLDR names in 14 languages, one sample with unreadable image bytes and one
without an image) and tiny random checkpoints saved by transformers' own classes."""
from __future__ import annotations

import dataclasses

import pytest

BROKEN_KEY, IMAGELESS_KEY = "broken0000000000000", "imageless00000000000"


@pytest.fixture(scope="session")
def emoji_records():
    from babelshard.pipelines.demo.toydata import caption_records, pick_emoji

    records = list(caption_records(pick_emoji(40), 32))
    broken = dataclasses.replace(records[0], key=BROKEN_KEY, url="openmoji:broken", image=b"\x89PNG not really")
    imageless = dataclasses.replace(records[1], key=IMAGELESS_KEY, url="openmoji:none", image=None)
    return records + [broken, imageless]


@pytest.fixture(scope="session")
def caption_shards(tmp_path_factory, emoji_records) -> str:
    """42 caption samples in 3 shards (16, 16, 10)."""
    from babelshard.shards.writer import write_records

    folder = str(tmp_path_factory.mktemp("emoji") / "caption")
    write_records(folder, "caption", emoji_records, max_samples=16)
    return folder


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, emoji_records) -> dict[str, str]:
    """``clip`` (CLIPModel), ``altclip`` (AltCLIPModel: multilingual text tower) and ``xlmr``."""
    from babelshard.textnorm import tokenize_words
    from babelshard.train.models.tiny_checkpoints import save_tiny_altclip, save_tiny_clip, save_tiny_xlmr

    words = sorted({w.casefold() for r in emoji_records for c in r.captions.values() for w in tokenize_words(c.text)})
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "clip": save_tiny_clip(str(root / "clip")),
        "altclip": save_tiny_altclip(str(root / "altclip"), words, seed=2),
        "xlmr": save_tiny_xlmr(str(root / "xlmr"), words, seed=1),
    }
