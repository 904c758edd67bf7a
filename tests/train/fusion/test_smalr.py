"""SMALR on a real hybrid vocabulary built by the vocab issue's code from the toy
captions: the embedding layer's size, per-language tokenization, masked
cross-language modeling, and cross-lingual consistency scoring."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.objective_config import objective_config
from babelshard.train.registry import build_objective
from babelshard.train.models.smalr import SmalrModel, consistency_scores, gold_ranks, load_hybrid_vocab


@pytest.fixture(scope="module")
def smalr(model_config, hybrid_vocab, hybrid_tokenizer):
    def make(seed: int = 0) -> SmalrModel:
        torch.manual_seed(seed)
        return SmalrModel(model_config("smalr", hybrid_vocab=hybrid_vocab), VocabInfo.of(hybrid_tokenizer), load_hybrid_vocab(hybrid_vocab))

    return make


def test_hybrid_embedding_has_the_artifacts_parameter_count(smalr, hybrid_vocab):
    header = json.load(open(f"{hybrid_vocab}/hybrid.json"))
    model = smalr()
    embedding = model.hybrid_embedding
    assert header["parameters"]["dim"] == embedding.embedding_dim
    assert sum(p.numel() for p in embedding.parameters()) == header["parameters"]["hybrid"]
    assert embedding.num_embeddings == header["num_tokens"] < header["parameters"]["per_word_per_language"] // header["parameters"]["dim"]
    vocab = load_hybrid_vocab(hybrid_vocab)
    assert model.centroid_init
    shared = embedding.weight[vocab.shared_offset:].detach()
    cosine = F.cosine_similarity(shared, torch.from_numpy(vocab.centroids), dim=1)
    assert torch.allclose(cosine, torch.ones_like(cosine), atol=1e-5)


def test_tokenizer_encodes_words_in_their_language(hybrid_tokenizer, hybrid_vocab):
    vocab = load_hybrid_vocab(hybrid_vocab)
    frequent = {lang: max(vocab.word_counts[lang], key=vocab.word_counts[lang].get) for lang in vocab.languages}
    for lang, word in frequent.items():
        start, end = vocab.language_ranges[lang]
        row = hybrid_tokenizer.encode([word], [lang])[0]
        assert row[0] == vocab.special_id("<cls>") and start <= row[1] < end and row[2] == vocab.special_id("<sep>")
    rare = next(w for w, n in vocab.word_counts["de"].items() if n == 1 and vocab.is_shared(vocab.word_ids["de"][w]))
    assert vocab.is_shared(int(hybrid_tokenizer.encode([rare], ["de"])[0][1]))
    with pytest.raises(ValueError, match="one language per text"):
        hybrid_tokenizer.encode(["dog"])


def test_masked_cross_language_modeling_loss_decreases(smalr, smalr_batches, fit):
    data = smalr_batches("pairs", 4)
    assert {lang for b in data for lang in b.target_languages} <= {"de", "es", "fr"}
    torch.manual_seed(0)  # the same initial weights whatever ran before in this process
    model = smalr()
    loss = build_objective(objective_config(kind="mclm", stream="pairs"))
    first = loss(model, data[0])
    assert float(first["targets"]) > 0
    losses = fit(model, loss, data, steps=80, lr=5e-3)  # few targets per batch (captions of 2-4 words)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.4


def test_consistency_scores_are_the_mean_over_translations():
    similarity = torch.tensor([[[0.9, 0.1]], [[0.2, 0.6]], [[0.1, 0.5]]])  # 3 versions, 1 text, 2 images
    assert torch.allclose(consistency_scores(similarity), torch.tensor([[0.4, 0.4]]))
    assert torch.allclose(consistency_scores(similarity, 0.5), torch.tensor([[0.525, 0.325]]))
    assert torch.equal(consistency_scores(similarity[:1]), similarity[0])


def test_consistency_changes_ranks_of_a_trained_model(smalr, smalr_batches, fit, toy, hybrid_tokenizer):
    """Train image-text contrast briefly, then rank held-out images for English captions
    alone and together with their Apertium translations into Spanish."""
    from babelshard.testing import require_debian
    from babelshard.train.config import ConsistencyConfig, EvalConfig
    from babelshard.train.eval.retrieval import embed_images, load_eval_set
    from babelshard.train.eval.fusion import embed_captions
    from babelshard.train.eval.consistency import translate_queries, translation_embeddings

    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    model = smalr()
    fit(model, build_objective(objective_config(kind="itc", stream="caption")), smalr_batches("caption", 8), steps=60)
    data = load_eval_set(EvalConfig(folders=[toy["heldout"]], languages=["de", "en", "es", "fr"]))
    images = embed_images(model, data, 64, "cpu")
    embed = lambda texts, lang: embed_captions(model, hybrid_tokenizer, texts, lang, 64, "cpu")  # noqa: E731
    query = embed([t for t, _ in data.captions["en"]], "en")
    owner = torch.tensor([i for _, i in data.captions["en"]])
    config = ConsistencyConfig(engines={"apertium": {"kind": "apertium"}}, pairs={"en-es": "apertium"})
    translations = translate_queries(data.captions, config, ["en"])
    assert sorted(translations.texts["en"]) == ["es"]
    assert translations.sources["en"]["es"]["model"] == "apertium/eng-spa"
    versions = translation_embeddings(translations.texts["en"], query, embed)
    similarity = torch.stack([query @ images.T] + [rows @ images.T for rows in versions])
    plain = gold_ranks(similarity[0], owner)
    combined = consistency_scores(similarity)
    ranks = gold_ranks(combined, owner)
    by_sorting = torch.tensor([int((row.argsort(descending=True) == g).nonzero()) for row, g in zip(combined, owner)])
    assert torch.equal(ranks, by_sorting)
    assert (ranks != plain).any(), "consistency did not change any rank"
    assert torch.equal(gold_ranks(consistency_scores(similarity, query_weight=1.0), owner), plain)
