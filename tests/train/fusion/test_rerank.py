"""Matching-head re-ranking of the contrastive top K (M3P, unified mVLP) on real tiny
models and the held-out toy emoji: K = 1 changes nothing, K covering every candidate is
exhaustive matching-head ranking, and in between only the order inside each query's top
K changes (so R@K and beyond equal the embedding's)."""
from __future__ import annotations

import pytest
import torch

from babelshard.train.config import EvalConfig, ImageConfig
from babelshard.train.eval.evalset import image_groups, load_eval_set
from babelshard.train.eval.fusion import Embeddings, evaluate_fusion
from babelshard.train.eval.matching import rerank_scorer

LANGUAGES = ["de", "en"]


@pytest.fixture(scope="module")
def config(toy):
    return EvalConfig(folders=[toy["heldout"]], image=ImageConfig(size=32), languages=LANGUAGES, itm_images=None,
                      batch_size=64)


@pytest.mark.parametrize("kind", ["unified", "m3p"])
def test_rerank_between_embedding_and_exhaustive_matching(kind, build, tokenizer, config):
    model = build(kind, fusion=dict(layers=1))
    data = load_eval_set(config)
    embedding = evaluate_fusion(model, tokenizer, config, "embedding", data=data)
    exhaustive = evaluate_fusion(model, tokenizer, config, "itm", data=data)
    top_one = evaluate_fusion(model, tokenizer, config.model_copy(update={"rerank_top_k": 1}), "rerank", data=data)
    everything = evaluate_fusion(model, tokenizer, config.model_copy(update={"rerank_top_k": 1000}), "rerank", data=data)
    top_five = evaluate_fusion(model, tokenizer, config.model_copy(update={"rerank_top_k": 5}), "rerank", data=data)
    one_query = 100.0 / len(data.keys)
    for lang in LANGUAGES:
        plain, matched = embedding["languages"][lang], exhaustive["languages"][lang]
        for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"):
            assert top_one["languages"][lang][key] == plain[key], (lang, key)
            assert everything["languages"][lang][key] == pytest.approx(matched[key], abs=one_query), (lang, key)
        for key in ("i2t_r5", "i2t_r10", "t2i_r5", "t2i_r10"):
            assert top_five["languages"][lang][key] == plain[key], (lang, key)


def test_rerank_reorders_inside_the_top_k_only(build, tokenizer, config):
    model = build("unified", fusion=dict(layers=1))
    data = load_eval_set(config)
    embeddings = Embeddings(model.eval(), tokenizer, data, config, "cpu")
    rows = image_groups(data, False)[0][1]
    cols = torch.arange(len(data.captions["en"]))
    base = embeddings.images @ embeddings.texts("en").T
    scores = rerank_scorer(model, data, embeddings.images, embeddings.texts("en"), embeddings.tokens("en"), "en", 5,
                           64, "cpu")(rows, cols)
    for reranked, dim in ((scores.i2t, 1), (scores.t2i, 0)):
        top_base = base.topk(5, dim=dim).indices.sort(dim=dim).values
        top_reranked = reranked.topk(5, dim=dim).indices.sort(dim=dim).values
        assert torch.equal(top_base, top_reranked)  # the same candidates in the top 5 ...
        assert not torch.equal(base.argmax(dim=dim), reranked.argmax(dim=dim))  # ... in another order
        outside = torch.ones_like(base, dtype=torch.bool).scatter(dim, base.topk(5, dim=dim).indices, False)
        assert torch.equal(reranked[outside], base[outside])
