"""Retrieval evaluation for the fusion presets: one evaluation set, several scorers.

Four ways to score an (image, caption) pair, each ranked by the same metric code
(:mod:`babelshard.train.eval.retrieval`, per 1K fold with ``eval.folds``):

* ``embedding``: cosine of ``encode_image`` and ``encode_text``;
* ``itm``: the matching head's log-odds, every image of the first ``itm_images``
  against every caption (:mod:`babelshard.train.eval.matching`);
* ``rerank``: embedding scores with each query's top ``rerank_top_k`` re-ranked by the
  matching head (M3P's and the unified model's retrieval);
* ``consistency`` (SMALR): a caption scored together with its machine translations
  (:mod:`babelshard.train.eval.consistency`).
"""
from __future__ import annotations

from typing import Any, Literal

import torch

from babelshard.train.config import EvalConfig
from babelshard.train.data.batches import encode
from babelshard.train.eval.consistency import (
    QueryTranslations, consistency_scorer, translate_queries, translation_embeddings,
)
from babelshard.train.eval.evalset import EvalSet, first_images, image_groups, load_eval_set
from babelshard.train.eval.matching import itm_scorer, rerank_scorer
from babelshard.train.eval.retrieval import (
    Scorer, base_results, caption_owner, embed_images, embed_texts, embedding_scorer, language_metrics,
    supported_languages,
)

ScorerName = Literal["embedding", "itm", "rerank", "consistency"]
embed_captions = embed_texts  # the name the fusion tests and scripts use


class Embeddings:
    """Image and caption embeddings of one evaluation set, computed once and shared by scorers."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, data: EvalSet, config: EvalConfig, device: str):
        self.model, self.tokenizer, self.data, self.config, self.device = model, tokenizer, data, config, device
        self._images: torch.Tensor | None = None
        self._texts: dict[str, torch.Tensor] = {}

    @property
    def images(self) -> torch.Tensor:
        if self._images is None:
            self._images = embed_images(self.model, self.data, self.config.batch_size, self.device)
        return self._images

    def texts(self, lang: str) -> torch.Tensor:
        if lang not in self._texts:
            self._texts[lang] = self.embed([t for t, _ in self.data.captions[lang]], lang)
        return self._texts[lang]

    def embed(self, texts: list[str], lang: str) -> torch.Tensor:
        return embed_texts(self.model, self.tokenizer, texts, lang, self.config.batch_size, self.device)

    def tokens(self, lang: str) -> torch.Tensor:
        captions = [t for t, _ in self.data.captions[lang]]
        return encode(self.tokenizer, captions, [lang] * len(captions))


def make_scorer(name: ScorerName, lang: str, embeddings: Embeddings, translations: QueryTranslations | None) -> Scorer:
    config, model, data, device = embeddings.config, embeddings.model, embeddings.data, embeddings.device
    if name == "itm":
        return itm_scorer(model, data, embeddings.tokens(lang), lang, config.batch_size, device)
    if name == "rerank":
        return rerank_scorer(model, data, embeddings.images, embeddings.texts(lang), embeddings.tokens(lang), lang,
                             config.rerank_top_k, config.batch_size, device)
    if name == "consistency":
        targets = (translations.texts if translations else {}).get(lang, {})
        versions = translation_embeddings(targets, embeddings.texts(lang), embeddings.embed)
        return consistency_scorer(embeddings.images, embeddings.texts(lang), versions, config.consistency.query_weight)
    return embedding_scorer(embeddings.images, embeddings.texts(lang))


def evaluate_fusion(model: torch.nn.Module, tokenizer: Any, config: EvalConfig, scorer: ScorerName = "embedding",
                    device: str = "cpu", data: EvalSet | None = None,
                    translations: QueryTranslations | None = None) -> dict[str, Any]:
    """One scorer's results, part 1's shape plus ``scorer`` (and ``translations`` for consistency)."""
    data = data if data is not None else load_eval_set(config)
    if scorer == "itm":
        data = first_images(data, config.itm_images)
    model.eval()
    supported = supported_languages(model)
    languages = [lang for lang in sorted(data.captions) if supported is None or lang in supported]
    if scorer == "consistency" and translations is None:
        translations = translate_queries(data.captions, config.consistency, languages)
    groups = image_groups(data, config.folds)
    embeddings = Embeddings(model, tokenizer, data, config, device)
    results = {**base_results(data, groups), "scorer": scorer}
    for lang in languages:
        metrics = language_metrics(make_scorer(scorer, lang, embeddings, translations), caption_owner(data.captions[lang]), groups)
        if scorer == "consistency":
            metrics["translations"] = translations.sources.get(lang, {}) if translations else {}
        results["languages"][lang] = metrics
    return results


def evaluate_scorers(model: torch.nn.Module, tokenizer: Any, config: EvalConfig, device: str = "cpu") -> dict[str, Any]:
    """``{scorer: results}`` for every scorer in ``config.scorers``, on one loaded evaluation set."""
    data = load_eval_set(config)
    return {scorer: evaluate_fusion(model, tokenizer, config, scorer, device, data)
            for scorer in config.scorers or ["embedding"]}
