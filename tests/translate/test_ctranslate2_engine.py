"""The CTranslate2 engine on a real converted Marian model, checked against transformers."""
from __future__ import annotations

import pytest

from babelshard.translate.config import CTranslate2EngineConfig
from babelshard.translate.ctranslate2_engine import CTranslate2Engine
from babelshard.translate.engines import create_engine
from babelshard.translate.toy_model import transformers_greedy_pieces

SOURCES = [
    "a red apple on a wooden table",
    "red heart",
    "two dogs play in the park next to a small lake",
    "grinning face with big eyes",
    "woman running",
]


def engine_config(model, **overrides) -> CTranslate2EngineConfig:
    settings = dict(kind="ctranslate2", model_path=model.ctranslate2_dir, compute_type="float32", beam_size=1,
                    max_decoding_length=12)
    settings.update(overrides)
    return CTranslate2EngineConfig(**settings)


def test_float32_greedy_equals_transformers_token_for_token(toy_marian):
    engine = create_engine(engine_config(toy_marian))
    results = engine.translate(SOURCES, "en", "es")
    expected = transformers_greedy_pieces(toy_marian, SOURCES, max_new_tokens=12)
    assert [list(r.pieces) for r in results] == expected
    assert len({r.pieces for r in results}) > 1, "outputs should depend on the input"
    assert all(r.score is not None and r.score < 0 for r in results)


def test_language_prefix_tokens_equal_transformers_forced_prefix(toy_marian):
    """M2M-100 style: source starts with __en__, target forced to start with __es__."""
    engine = create_engine(engine_config(toy_marian, language_tokens="m2m100"))
    results = engine.translate(SOURCES, "en", "es")
    expected = transformers_greedy_pieces(toy_marian, SOURCES, max_new_tokens=12, prefix=("__en__", "__es__"))
    assert [list(r.pieces) for r in results] == expected
    assert all("__es__" not in r.pieces for r in results)


def test_missing_language_token_is_an_error(toy_marian):
    engine = create_engine(engine_config(toy_marian, language_tokens="m2m100"))
    with pytest.raises(ValueError, match="__fr__"):
        engine.translate(["red heart"], "en", "fr")


def test_length_sorted_batch_keeps_input_order(toy_marian):
    engine = create_engine(engine_config(toy_marian, max_batch_tokens=16))
    together = engine.translate(SOURCES, "en", "es")
    alone = [engine.translate([text], "en", "es")[0] for text in SOURCES]
    assert [r.pieces for r in together] == [r.pieces for r in alone]


def test_long_inputs_are_split_or_truncated_and_flagged(toy_marian):
    text = "a red apple on a wooden table. two dogs play in the park, next to a small lake."
    split = create_engine(engine_config(toy_marian, max_input_tokens=12, long_inputs="split"))
    cut = create_engine(engine_config(toy_marian, max_input_tokens=12, long_inputs="truncate"))
    whole = create_engine(engine_config(toy_marian, max_input_tokens=256))
    full_tokens = len(whole.encode(text)) + 1
    [by_split], [by_cut], [by_whole] = (e.translate([text], "en", "es") for e in (split, cut, whole))
    assert by_split.split and not by_split.truncated
    assert by_split.source_tokens > 12 and by_split.target_tokens > by_whole.target_tokens  # one output per segment
    assert by_cut.truncated and by_cut.source_tokens == 12 < full_tokens
    assert not by_whole.split and not by_whole.truncated and by_whole.source_tokens == full_tokens


def test_auto_device_and_int8_compute_on_cpu(toy_marian):
    engine = CTranslate2Engine(engine_config(toy_marian, device="auto", compute_type="auto", beam_size=2))
    assert (engine.device, engine.compute_type) == ("cpu", "int8")
    results = engine.translate(SOURCES, "en", "es")
    assert len(results) == len(SOURCES) and all(r.text for r in results)


def test_model_id_is_stable_and_names_the_directory(toy_marian):
    config = engine_config(toy_marian)
    first = CTranslate2Engine(config).model_id("en", "es")
    assert first == CTranslate2Engine(config).model_id("en", "de")
    assert first.startswith("ctranslate2@")
    assert CTranslate2Engine(engine_config(toy_marian, model_id="toy-v1")).model_id("en", "es") == "toy-v1"
