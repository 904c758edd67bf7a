"""Translation cache: keys, the parquet store, and the plain-Python memo over a real engine."""
from __future__ import annotations

import pytest

from babelshard.translate.cache import (
    CacheEntry, MemoTranslator, cache_key, list_cache_files, read_cache_file, write_cache_file,
)
from babelshard.translate.config import CTranslate2EngineConfig
from babelshard.translate.engines import create_engine, engine_identity


class CountingEngine:
    """Passes calls to a real engine and records what it was asked to translate."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def translate(self, texts, source, target):
        self.calls.append((target, list(texts)))
        return self.engine.translate(texts, source, target)


@pytest.fixture(scope="module")
def toy(toy_marian):
    config = CTranslate2EngineConfig(kind="ctranslate2", model_path=toy_marian.ctranslate2_dir, language_tokens="m2m100",
                                     beam_size=1, max_decoding_length=6)
    return create_engine(config), engine_identity(config, "en", "es")


def test_keys_depend_on_engine_model_pair_and_cleaned_text():
    key = cache_key("ctranslate2", "m1", "en", "es", "A  red apple ")
    assert key == cache_key("ctranslate2", "m1", "en", "es", "A red apple")  # whitespace is normalized
    assert key != cache_key("ctranslate2", "m1", "en", "es", "a red apple")  # case changes a translation
    assert len({key, cache_key("apertium", "m1", "en", "es", "A red apple"), cache_key("ctranslate2", "m2", "en", "es",
               "A red apple"), cache_key("ctranslate2", "m1", "en", "ca", "A red apple")}) == 4


def test_parquet_round_trip_with_a_deterministic_name(tmp_path):
    url = str(tmp_path / "cache")
    entries = [
        CacheEntry(cache_key("apertium", "apertium/eng-spa", "en", "es", t), t, t.upper(), None, "apertium",
                   "apertium/eng-spa", "en", "es")
        for t in ("a cat", "a dog")
    ]
    path = write_cache_file(url, entries)
    assert path == write_cache_file(url, list(reversed(entries)))  # same entries, same file
    assert list_cache_files(url, "apertium", "apertium/eng-spa", "en", "es") == [path]
    assert list_cache_files(url, "apertium", "apertium/eng-spa", "en", "ca") == []
    assert sorted(read_cache_file(path), key=lambda e: e.key) == sorted(entries, key=lambda e: e.key)


def test_duplicates_are_translated_once_and_a_rerun_translates_nothing(tmp_path, toy, caption_samples):
    engine, (kind, model) = toy
    captions = [sample.caption for sample in caption_samples]
    url = str(tmp_path / "cache")
    counting = CountingEngine(engine)
    memo = MemoTranslator(counting, kind, model, url)
    first = memo.translate(captions, "en", "es")
    assert [len(texts) for _, texts in counting.calls] == [len(set(captions))]
    assert [e.text for e in first] == [engine.translate([c], "en", "es")[0].text for c in captions]
    memo.flush()

    again = CountingEngine(engine)
    rerun = MemoTranslator(again, kind, model, url)
    assert rerun.translate(captions, "en", "es") == first
    assert again.calls == [] and rerun.translated == 0


def test_adding_a_language_translates_only_that_language(tmp_path, toy, caption_samples):
    engine, (kind, model) = toy
    captions = [sample.caption for sample in caption_samples]
    url = str(tmp_path / "cache")
    memo = MemoTranslator(engine, kind, model, url)
    memo.translate(captions, "en", "es")
    memo.flush()
    counting = CountingEngine(engine)
    rerun = MemoTranslator(counting, kind, model, url)
    for target in ("es", "ca"):
        rerun.translate(captions, "en", target)
    assert [target for target, _ in counting.calls] == ["ca"]
    assert rerun.translated == len(set(captions))
