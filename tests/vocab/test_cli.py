"""``babelshard vocab build`` and ``vocab show`` through the real CLI, and the shipped configs."""
from __future__ import annotations

import glob
import json
import os

import pytest
import yaml
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.vocab.config import load_vocab_config
from babelshard.vocab.hybrid import HybridVocab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_config(path, **settings) -> str:
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return str(path)


@pytest.mark.slow
def test_build_then_show(tmp_path, emoji_caption_folder):
    config = write_config(
        tmp_path / "vocab.yaml", name="cli", captions=[emoji_caption_folder], languages=["en", "de"],
        output=str(tmp_path / "out"),
        sentencepiece={"vocab_size": 800, "user_defined_symbols": ["<mask>"]},
        fasttext={"dim": 8, "epoch": 3, "min_count": 1, "bucket": 10000},
        hybrid={"min_count": 3, "num_shared": 40},
    )
    result = CliRunner().invoke(app, ["vocab", "build", config])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "vocab.json").read_text(encoding="utf-8"))
    assert manifest["languages"] == ["de", "en"] and manifest["sentencepiece"]["vocab_size"] <= 800
    assert sorted(os.listdir(tmp_path / "out")) == ["counts", "fasttext", "hybrid", "sentencepiece", "vocab.json"]
    vocab = HybridVocab.load(str(tmp_path / "out"))
    assert vocab.num_shared == 40 and vocab.languages == ("de", "en")
    shown = CliRunner().invoke(app, ["vocab", "show", str(tmp_path / "out")])
    assert shown.exit_code == 0, shown.output
    assert "sentencepiece: " in shown.output and f"{vocab.num_tokens} tokens" in shown.output


def test_bad_configs_and_paths_exit_2_with_the_reason(tmp_path, emoji_caption_folder):
    runner = CliRunner()
    unknown = write_config(tmp_path / "a.yaml", captions=[emoji_caption_folder], output=str(tmp_path / "o"), colour=1)
    result = runner.invoke(app, ["vocab", "build", unknown])
    assert result.exit_code == 2 and "colour: unknown key" in result.output
    no_text = write_config(tmp_path / "b.yaml", captions=[emoji_caption_folder], output=str(tmp_path / "o"),
                           languages=["en", "sw"])
    result = runner.invoke(app, ["vocab", "build", no_text])
    assert result.exit_code == 2 and "no text in the inputs: sw" in result.output
    result = runner.invoke(app, ["vocab", "show", str(tmp_path)])
    assert result.exit_code == 2 and "not a vocabulary artifact" in result.output


def test_steps_without_their_inputs_are_config_errors(tmp_path):
    from babelshard.configbase import ConfigError

    path = write_config(tmp_path / "c.yaml", captions=["x"], output="o", hybrid={"min_count": 3})
    with pytest.raises(ConfigError, match="hybrid needs the fasttext step"):
        load_vocab_config(path)
    path = write_config(tmp_path / "d.yaml", captions=["x"], output="o", fasttext={},
                        hybrid={"min_count": 3, "top_k": 10})
    with pytest.raises(ConfigError, match="exactly one of min_count"):
        load_vocab_config(path)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "vocab-*.yaml")))
                         + [os.path.join(ROOT, "configs", "train-smalr-vocab.yaml")])
def test_shipped_configs_validate(path):
    assert load_vocab_config(path).output


@pytest.mark.slow
def test_build_to_an_fsspec_url_and_load_from_it(tmp_path, emoji_caption_folder, monkeypatch):
    from babelshard.configbase import parse_config
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import VocabConfig

    monkeypatch.setenv("BABELSHARD_CACHE", str(tmp_path / "cache"))
    config = parse_config(VocabConfig, {
        "captions": [emoji_caption_folder], "languages": ["fr"], "output": "memory://vocab-test/out",
        "fasttext": {"dim": 8, "epoch": 2, "min_count": 1, "bucket": 10000}, "hybrid": {"min_count": 3, "num_shared": 30},
    })
    build_vocab(config)
    vocab = HybridVocab.load("memory://vocab-test/out")
    assert vocab.fasttext_paths["fr"] == "memory://vocab-test/out/fasttext/fr.bin"
    assert vocab.is_shared(vocab.token_id("anticonstitutionnellement", "fr"))  # subwords via a cached copy
    assert os.listdir(tmp_path / "cache" / "vocab")
