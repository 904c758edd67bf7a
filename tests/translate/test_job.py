"""``babelshard translate CONFIG`` over an existing caption shard folder, and the
machine-vs-human chrF report on its output."""
from __future__ import annotations

import glob

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records
from babelshard.shards.writer import write_records
from babelshard.testing import require_command, require_debian
from babelshard.translate.quality_report import chrf_against_human

# Human Spanish translations of the conftest captions (one per distinct caption).
HUMAN_ES = {
    "A red apple on a wooden table.": "Una manzana roja sobre una mesa de madera.",
    "Two dogs play in the park.": "Dos perros juegan en el parque.",
    "A woman riding a bicycle down a city street.": "Una mujer montando en bicicleta por una calle de la ciudad.",
    "A plate of food with rice and vegetables.": "Un plato de comida con arroz y verduras.",
    "A man standing on a beach holding a surfboard.": "Un hombre de pie en una playa sujetando una tabla de surf.",
    "A cat sleeping on a couch.": "Un gato durmiendo en un sofá.",
    "A train traveling down tracks next to a forest.": "Un tren circulando por las vías junto a un bosque.",
}


def write_config(tmp_path, translate: dict, output=None) -> str:
    path = tmp_path / "job.yaml"
    data = {"name": "translate-test", "output": {"folder": output or str(tmp_path / "out"), "samples_per_shard": 4},
            "translate": translate}
    path.write_text(yaml.safe_dump(data))
    return str(path)


def invoke(*args):
    return CliRunner().invoke(app, ["translate", *args], catch_exceptions=False)


def human_shards(tmp_path, sample_factory):
    captions = list(HUMAN_ES)
    samples = sample_factory(captions, humans={i: {"es": HUMAN_ES[c]} for i, c in enumerate(captions)})
    folder = str(tmp_path / "human")
    write_records(folder, "caption", samples, max_samples=4)
    return folder


@pytest.mark.slow
def test_apertium_translation_of_a_shard_folder_with_parallel_shards(tmp_path, caption_shards):
    require_command("apertium", "apertium")
    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    require_debian("/usr/share/apertium/modes/eng-cat.mode", "apertium-eng-cat")
    config = write_config(tmp_path, {"input_folder": caption_shards, "targets": {"es": "apertium", "ca": "apertium"},
                                     "engines": {"apertium": {"kind": "apertium"}}, "outputs": {"parallel": True}})
    result = invoke(config)
    assert result.exit_code == 0, result.output
    assert "cache_misses" in result.output
    inputs = list(iter_records(caption_shards))
    index = read_index(str(tmp_path / "out" / "caption"))
    assert index.samples == len(inputs) and index.languages == {"ca": len(inputs), "en": len(inputs), "es": len(inputs)}
    translated = {s.key: s for s in iter_records(str(tmp_path / "out" / "caption"))}
    apple = next(s for s in translated.values() if s.caption == "A red apple on a wooden table.")
    assert "manzana" in apple.captions["es"].text and "poma" in apple.captions["ca"].text
    assert apple.captions["ca"].model == "apertium/eng-cat"
    pairs = read_index(str(tmp_path / "out" / "parallel-mt"))
    assert pairs.stream == "parallel" and pairs.languages == {"en-ca": len(inputs), "en-es": len(inputs)}


@pytest.mark.slow
def test_drops_go_to_a_failures_table_without_parallel_output(tmp_path, caption_shards, toy_marian, lid_model_path):
    engine = {"kind": "ctranslate2", "model_path": toy_marian.ctranslate2_dir, "language_tokens": "m2m100",
              "max_decoding_length": 12, "beam_size": 1}
    config = write_config(tmp_path, {"targets": {"es": "toy"}, "engines": {"toy": engine},
                                     "filters": {"lid_model_path": lid_model_path}})
    result = invoke(config, "--input", caption_shards)
    assert result.exit_code == 0, result.output
    samples = list(iter_records(str(tmp_path / "out" / "caption")))
    rows = [row for path in glob.glob(str(tmp_path / "out" / "translate-failures" / "*.parquet"))
            for row in pq.read_table(path).to_pylist()]
    translated = sum("es" in s.captions for s in samples)
    assert len(samples) == len(list(iter_records(caption_shards)))
    assert rows and translated + len(rows) == len(samples)
    assert all(row["stage"] == "translate" for row in rows)


def test_errors_name_what_to_fix(tmp_path, caption_shards):
    missing = write_config(tmp_path, {"targets": {"es": "a"}, "engines": {"a": {"kind": "apertium"}}})
    result = CliRunner().invoke(app, ["translate", missing])
    assert result.exit_code == 2 and "input_folder" in result.output
    result = CliRunner().invoke(app, ["translate", missing, "--input", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "nowhere" in result.output
    same = write_config(tmp_path, {"targets": {"es": "a"}, "engines": {"a": {"kind": "apertium"}}},
                        output=str(tmp_path))
    result = CliRunner().invoke(app, ["translate", same, "--input", str(tmp_path / "caption")])
    assert result.exit_code == 2 and "overwrite" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"output": {"folder": "x"}, "translate": {"targets": {"es": "nope"},
                                                                            "engines": {"a": {"kind": "apertium"}}}}))
    result = CliRunner().invoke(app, ["translate", str(bad)])
    assert result.exit_code == 2 and "nope" in result.output


def test_missing_apertium_pair_fails_before_running(tmp_path, caption_shards):
    require_command("apertium", "apertium")
    config = write_config(tmp_path, {"input_folder": caption_shards, "targets": {"fr": "a"},
                                     "engines": {"a": {"kind": "apertium"}}})
    result = CliRunner().invoke(app, ["translate", config])
    assert result.exit_code == 2 and "apertium-eng-fra" in result.output


@pytest.mark.slow
def test_chrf_of_apertium_against_human_beats_a_random_model(tmp_path, sample_factory, toy_marian):
    require_command("apertium", "apertium")
    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    folder = human_shards(tmp_path, sample_factory)
    engines = {"apertium": {"kind": "apertium"},
               "toy": {"kind": "ctranslate2", "model_path": toy_marian.ctranslate2_dir, "max_decoding_length": 16}}
    reports = {}
    for name in engines:
        output = str(tmp_path / name)
        config = write_config(tmp_path, {"input_folder": folder, "targets": {"es": name}, "engines": engines,
                                         "when_human_exists": "translate", "filters": {"enabled": False}}, output)
        assert invoke(config).exit_code == 0
        reports[name] = chrf_against_human(iter_records(f"{output}/caption"), "es")
    apertium, toy = reports["apertium"], reports["toy"]
    assert apertium.pairs == toy.pairs == len(HUMAN_ES)
    assert apertium.without_translation == apertium.without_reference == 0
    assert apertium.engines == {"apertium/apertium/eng-spa": len(HUMAN_ES)}
    assert apertium.chrf > toy.chrf + 20, (apertium, toy)
    assert "chrF" in apertium.describe()
