"""Apertium on real English captions (Debian apertium-eng-spa / apertium-eng-cat)."""
from __future__ import annotations

import pytest

from babelshard.testing import require_command, require_debian
from babelshard.translate.apertium_engine import ApertiumEngine, ApertiumMissingError, debian_package
from babelshard.translate.config import ApertiumEngineConfig
from babelshard.translate.engines import create_engine, engine_identity

CONFIG = ApertiumEngineConfig(kind="apertium")


@pytest.fixture(scope="module")
def engine():
    require_command("apertium", "apertium")
    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    return create_engine(CONFIG)


def test_english_captions_into_spanish(engine, caption_samples):
    captions = [sample.caption for sample in caption_samples]
    results = engine.translate(captions, "en", "es")
    assert len(results) == len(captions)
    by_source = dict(zip(captions, (r.text for r in results)))
    assert "manzana" in by_source["A red apple on a wooden table."].lower()
    assert "perros" in by_source["Two dogs play in the park."].lower()
    assert "bicicleta" in by_source["A woman riding a bicycle down a city street."].lower()
    assert all(r.source_tokens > 0 and r.target_tokens > 0 and r.score is None for r in results)


def test_batch_equals_one_at_a_time(engine):
    """Captions are translated in one process; none may change its neighbour's translation."""
    captions = ["A red apple on a wooden table.", "Two dogs play in the park.", "no period", "Mr. Smith."]
    together = [r.text for r in engine.translate(captions, "en", "es")]
    alone = [engine.translate([caption], "en", "es")[0].text for caption in captions]
    assert together == alone
    assert together[captions.index("A red apple on a wooden table.")].endswith(".")


def test_empty_inputs_keep_their_place(engine):
    results = engine.translate(["", "A cat sleeping on a couch.", "  "], "en", "es")
    assert [bool(r.text) for r in results] == [False, True, False]
    assert "gato" in results[1].text.lower()


def test_english_captions_into_catalan(engine):
    require_debian("/usr/share/apertium/modes/eng-cat.mode", "apertium-eng-cat")
    [result] = engine.translate(["Two dogs play in the park."], "en", "ca")
    assert "gossos" in result.text.lower()


def test_missing_pair_names_the_debian_package(engine):
    with pytest.raises(ApertiumMissingError, match="apertium-eng-fra"):
        engine.translate(["A cat."], "en", "fr")


def test_missing_command_names_the_debian_package():
    with pytest.raises(ApertiumMissingError, match="apt-get install apertium"):
        ApertiumEngine(ApertiumEngineConfig(kind="apertium", command="apertium-not-installed-here"))


def test_mode_overrides_and_identity():
    config = ApertiumEngineConfig(kind="apertium", modes={"en-ca": "eng-cat_valencia"})
    assert engine_identity(config, "en", "ca") == ("apertium", "apertium/eng-cat_valencia")
    assert engine_identity(config, "en", "es") == ("apertium", "apertium/eng-spa")
    assert debian_package("eng-cat_valencia") == "apertium-eng-cat"
