"""Language sampling weights against hand-computed values, and the text-weights command."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.shards.weights import read_weights, smoothed_weights
from babelshard.records import TextSample, stable_key
from babelshard.shards.index import ShardIndexError
from babelshard.shards.writer import write_records

# n = 900, 90, 10 -> p = 0.9, 0.09, 0.01. By hand:
#   alpha 0.3: p^a = 0.96889, 0.48559, 0.25119 (sum 1.70567) -> q = 0.5680, 0.2847, 0.1473
#   alpha 0.2: p^a = 0.97915, 0.61778, 0.39811 (sum 1.99504) -> q = 0.4908, 0.3097, 0.1995
COUNTS = {"de": 900, "it": 90, "ru": 10}
HAND = {0.3: {"de": 0.5680, "it": 0.2847, "ru": 0.1473}, 0.2: {"de": 0.4908, "it": 0.3097, "ru": 0.1995}}


@pytest.mark.parametrize("alpha", [0.3, 0.2])
def test_smoothed_weights_match_the_hand_computed_case(alpha):
    weights = smoothed_weights(COUNTS, alpha)
    assert {lang: p for lang, (p, _) in weights.items()} == pytest.approx({"de": 0.9, "it": 0.09, "ru": 0.01})
    assert {lang: q for lang, (_, q) in weights.items()} == pytest.approx(HAND[alpha], abs=1e-4)


def test_alpha_one_keeps_the_shares_and_empty_languages_are_left_out():
    weights = smoothed_weights({**COUNTS, "pl": 0}, 1.0)
    assert set(weights) == {"de", "it", "ru"}
    assert all(p == pytest.approx(q) for p, q in weights.values())
    with pytest.raises(ValueError):
        smoothed_weights(COUNTS, 0.0)


@pytest.fixture
def text_root(tmp_path, fortunes):
    root = tmp_path / "text"
    for language, count in COUNTS.items():
        texts = fortunes(language, count)
        records = [
            TextSample(key=stable_key("w", language, str(i)), text=texts[i % len(texts)], language=language, source="fortunes")
            for i in range(count)
        ]
        write_records(str(root / language), "text", records, max_samples=400)
    return root


def test_text_weights_command_prints_and_writes_weights_json(text_root):
    result = CliRunner().invoke(app, ["text-weights", str(text_root), "--alpha", "0.3"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines() if line.split()[:1] in (["de"], ["it"], ["ru"])}
    assert {lang: float(row[2]) for lang, row in rows.items()} == pytest.approx(HAND[0.3], abs=1e-4)
    document = read_weights(str(text_root))
    assert document["stream"] == "text" and document["alpha"] == 0.3 and document["total_samples"] == 1000
    assert {lang: row["folder"] for lang, row in document["languages"].items()} == {"de": "de", "it": "it", "ru": "ru"}
    assert {lang: row["samples"] for lang, row in document["languages"].items()} == COUNTS
    assert {lang: row["q"] for lang, row in document["languages"].items()} == pytest.approx(HAND[0.3], abs=1e-4)


def test_text_weights_refuses_an_unfinished_folder(text_root):
    (text_root / "de" / "index.json").unlink()
    result = CliRunner().invoke(app, ["text-weights", str(text_root)])
    assert result.exit_code == 2 and "has not finished" in result.output
    assert not (text_root / "weights.json").exists()


def test_read_weights_checks_format_and_version(text_root):
    assert CliRunner().invoke(app, ["text-weights", str(text_root)]).exit_code == 0
    document = json.loads((text_root / "weights.json").read_text())
    (text_root / "weights.json").write_text(json.dumps({**document, "version": 2}))
    with pytest.raises(ShardIndexError, match="version 1"):
        read_weights(str(text_root))
