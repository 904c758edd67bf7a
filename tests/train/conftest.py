"""Trainer fixtures: real OpenMoji shards (rendered SVGs, CLDR captions in 14 languages,
real code-switched variants), the presets in configs/ with test-sized overrides, and a
trained English teacher shared by the MLA and mCLIP tests."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
PRESETS = REPO / "configs"


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> dict[str, str]:
    """caption/ (320 emoji), heldout/ (80 other emoji), text/<en,de,ja>/ + weights.json, parallel/."""
    from babelshard.pipelines.demo.toydata import build_toy_data

    return build_toy_data(str(tmp_path_factory.mktemp("toy")), train=320, heldout=80, size=32)


def small_overrides(toy: dict[str, str], output: str) -> list[str]:
    """Test-sized settings shared by every preset."""
    return [
        f"loop.output={output}",
        f"data.streams.0.folders=[{toy['caption']}]",
        "data.streams.0.holdout=0.0",
        "data.streams.0.batch_size=32",
        "data.workers=0",
        "tokenizer.vocab_size=8192",
        "tokenizer.max_length=16",
        "loop.progress=false",
        "loop.threads=1",
        "loop.log_every=1",
        "loop.checkpoint_every=0",
        "optim.warmup_steps=3",
    ]


@pytest.fixture(scope="session")
def preset(toy) -> Callable[..., "object"]:
    """``preset(name, output, *overrides)``: configs/train-<name>.yaml at test size."""
    from babelshard.train.config import load_train_config

    def load(name: str, output: str, *overrides: str):
        extra = list(overrides)
        data = load_train_config(PRESETS / f"train-{name}.yaml")
        if data.eval is not None:
            extra = [f"eval.folders=[{toy['heldout']}]", "eval.holdout=null", *extra]
        return load_train_config(PRESETS / f"train-{name}.yaml", small_overrides(toy, output) + extra)

    return load


TINY_MODEL = [
    "model.embed_dim=32",
    "model.text.width=32",
    "model.text.layers=1",
    "model.text.heads=2",
    "model.vision.width=32",
    "model.vision.layers=1",
    "model.vision.heads=2",
]


@pytest.fixture(scope="session")
def teacher_run(preset, tmp_path_factory) -> str:
    """The English CLIP preset trained for 60 steps at test size; returns its output folder."""
    from babelshard.train.loop.steps import train

    output = str(tmp_path_factory.mktemp("clip-en"))
    config = preset("clip-en", output, *TINY_MODEL, "loop.max_steps=60", "loop.epochs=10", "optim.lr=0.005")
    train(config)
    return output


@pytest.fixture(scope="session")
def teacher(teacher_run) -> str:
    path = os.path.join(teacher_run, "model.pt")
    assert os.path.exists(path)
    return path


@pytest.fixture(scope="session")
def tiny_model() -> list[str]:
    return list(TINY_MODEL)


@pytest.fixture(scope="session")
def caption_words(toy) -> list[str]:
    """Every word of the toy captions (as written), for tiny tokenizers' vocabularies."""
    from babelshard.shards.reader import iter_records
    from babelshard.textnorm import tokenize_words

    return sorted({w for r in iter_records(toy["caption"]) for c in r.captions.values() for w in tokenize_words(c.text)})


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, caption_words) -> dict[str, str]:
    """Tiny random checkpoints saved as the libraries save them: ``clip`` (CLIPModel, with
    its tokenizer and preprocessor_config.json), ``xlmr`` (XLMRobertaModel), ``mbert`` (BertModel)."""
    from babelshard.train.models.tiny_checkpoints import save_tiny_bert, save_tiny_clip, save_tiny_xlmr

    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "clip": save_tiny_clip(str(root / "clip")),
        "xlmr": save_tiny_xlmr(str(root / "xlmr"), [w.casefold() for w in caption_words] + caption_words),
        "mbert": save_tiny_bert(str(root / "mbert"), caption_words, seed=1),
    }
