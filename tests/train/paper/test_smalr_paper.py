"""SMALR at its settings where babelshard has them, from a tiny hybrid vocabulary built by
the vocab job from the toy captions with 48-d fastText vectors (wider than the encoder):
the hybrid embedding starts at the vectors the vocabulary was built from and maps them to
the encoder's width; configs/paper/train-smalr.yaml (image features from the shards)
trains; the presets name SMALR's 10 languages and where they substitute."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from babelshard.configbase import load_model
from babelshard.train.config import load_train_config
from babelshard.train.data.tokenizer import build_tokenizer
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.models.smalr import load_hybrid_vocab
from babelshard.train.registry import build_model

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
SMALR_LANGUAGES = ["en", "de", "fr", "cs", "zh", "ja", "ar", "af", "ko", "ru"]
TOY_LANGUAGES = ["de", "en", "es", "fr"]


@pytest.fixture(scope="module")
def hybrid(toy, tmp_path_factory) -> str:
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import FastTextConfig, HybridConfig, VocabConfig

    output = str(tmp_path_factory.mktemp("smalr-vocab"))
    build_vocab(VocabConfig(captions=(toy["caption"],), languages=tuple(TOY_LANGUAGES), output=output,
                            fasttext=FastTextConfig(dim=48, epoch=5, min_count=1, bucket=20000, minn=2, maxn=4),
                            hybrid=HybridConfig(min_count=3, num_shared=48)))
    return f"{output}/hybrid"


def paper_config(region_shards, hybrid, output, *extra):
    return load_train_config(CONFIGS / "paper" / "train-smalr.yaml", [
        f"loop.output={output}", "loop.progress=false", "loop.threads=1", "loop.log_every=1",
        "loop.max_steps=3", "loop.epochs=1", "data.workers=0", "optim.warmup_steps=1",
        f"tokenizer.path={hybrid}", "tokenizer.max_length=16", f"model.hybrid_vocab={hybrid}",
        "model.embed_dim=32", "model.text={width: 32, layers: 1, heads: 2}",
        "model.vision={kind: features, feature_dim: 12, width: 32}",
        f"data.streams.0.folders=[{region_shards}]", "data.streams.0.features=pooled", "data.streams.0.batch_size=16",
        f"data.streams.0.languages=[{', '.join(TOY_LANGUAGES)}]",
        f"data.streams.1.folders=[{region_shards}]", "data.streams.1.batch_size=16", "data.streams.1.pair_languages=[de, es, fr]",
        *extra,
    ])


def test_hybrid_embedding_starts_at_the_vectors_the_vocabulary_was_built_from(region_shards, hybrid, tmp_path):
    config = paper_config(region_shards, hybrid, str(tmp_path))
    tokenizer = build_tokenizer(config.tokenizer)
    model = build_model(config.model, VocabInfo.of(tokenizer))
    vocab = load_hybrid_vocab(hybrid)
    vectors, has_vector = vocab.initial_embeddings()
    rows = model.hybrid_embedding.weight.detach()
    assert rows.shape == (vocab.num_tokens, 48) and has_vector[vocab.num_special:].all()
    assert torch.equal(rows[torch.from_numpy(has_vector)], torch.from_numpy(vectors[has_vector]))
    assert torch.equal(rows[vocab.shared_offset:], torch.from_numpy(vocab.centroids))
    from babelshard.vocab.vectors import load_vectors

    fasttext = load_vectors(vocab.fasttext_paths["de"], "de")  # what the vocab job trained
    word, token = next((w, i) for w, i in vocab.word_ids["de"].items() if not vocab.is_shared(i) and i != vocab.unk_id)
    aligned = vocab.transforms["de"].apply(fasttext.vector(word)[None, :])[0]  # an own token's row: its word's aligned vector
    assert torch.allclose(rows[token], torch.from_numpy(aligned), atol=1e-6)
    projection = model.text.token_embedding[1]
    assert (projection.in_features, projection.out_features) == (48, 32)


def test_paper_shaped_smalr_trains(region_shards, hybrid, tmp_path, optimise, digest):
    from babelshard.train.loop.steps import train

    before = digest(hybrid)
    config = paper_config(region_shards, hybrid, str(tmp_path / "run"))
    model, losses = optimise(config, steps=30, lr=3e-3)
    assert all(p.requires_grad for p in model.parameters())  # SMALR fine-tunes its embedding: nothing frozen
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, (losses[:5], losses[-5:])
    assert train(config).step == 3
    assert digest(hybrid) == before


def test_presets_use_smalrs_languages_and_name_their_substitutes():
    from babelshard.vocab.config import VocabConfig

    vocab = load_model(VocabConfig, CONFIGS / "vocab-smalr.yaml")
    assert sorted(vocab.languages) == sorted(SMALR_LANGUAGES)
    assert sorted(vocab.fasttext.vectors) == sorted(SMALR_LANGUAGES)
    paper = load_train_config(CONFIGS / "paper" / "train-smalr.yaml")
    assert sorted(paper.data.streams[0].languages) == sorted(SMALR_LANGUAGES)
    for name in ("train-smalr.yaml", "train-smalr-vocab.yaml"):
        header = (CONFIGS / name).read_text()
        assert "Spanish and Italian stand in for them" in header and "Czech or Afrikaans" in header, name
