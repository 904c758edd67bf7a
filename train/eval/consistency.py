"""SMALR's cross-lingual consistency at test time, with machine translations of the query.

A query caption in language L is scored against an image together with its machine
translations into the target languages that ``eval.consistency.pairs`` names for L
(``score = w·s(query) + (1 - w)·mean s(translations)``, or the plain mean). The
translations come from the project's own engines (:mod:`babelshard.translate`: Apertium,
CTranslate2), are made once per evaluation run for every distinct caption, and with
``eval.consistency.cache`` are kept in the translation cache across runs. They depend on
the query's text alone, never on which image it belongs to. A translation that comes
back empty stands in as the query itself (counted as ``empty``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from babelshard.train.config import ConsistencyConfig
from babelshard.train.eval.retrieval import Scorer, Similarity
from babelshard.train.models.smalr import consistency_scores
from babelshard.translate.cache import MemoTranslator
from babelshard.translate.engines import create_engine, engine_identity


@dataclass
class QueryTranslations:
    """``texts[lang][target]``: the translation of each caption of ``lang`` (in the eval
    set's order); ``sources[lang][target]``: engine, model, how many came back empty and
    how many the engine translated in this run (the rest came from the memo or cache)."""

    texts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    sources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


class Translators:
    """Engines created once by name; one memo (and cache) per engine, model and pair."""

    def __init__(self, config: ConsistencyConfig):
        self.config = config
        self.engines: dict[str, Any] = {}
        self.memos: dict[tuple[str, str, str], MemoTranslator] = {}

    def translate(self, engine_name: str, texts: list[str], source: str, target: str) -> tuple[list[str], dict[str, Any]]:
        engine_config = self.config.engines[engine_name]
        memo = self.memos.get((engine_name, source, target))
        if memo is None:
            if engine_name not in self.engines:
                self.engines[engine_name] = create_engine(engine_config)
            kind, model = engine_identity(engine_config, source, target)
            memo = MemoTranslator(self.engines[engine_name], kind, model, self.config.cache)
            self.memos[(engine_name, source, target)] = memo
        before = memo.translated
        entries = memo.translate(texts, source, target)
        translated = [entry.text.strip() for entry in entries]
        return translated, {"engine": memo.engine_kind, "model": memo.model, "empty": sum(1 for t in translated if not t),
                            "translated": memo.translated - before}

    def flush(self) -> None:
        for memo in self.memos.values():
            memo.flush()


def translate_queries(captions: dict[str, list[tuple[str, int]]], config: ConsistencyConfig,
                      languages: Sequence[str] | None = None) -> QueryTranslations:
    """Machine translations of every caption of each query language into its pair targets."""
    translators = Translators(config)
    result = QueryTranslations()
    for lang in sorted(captions):
        if languages is not None and lang not in languages:
            continue
        texts = [text for text, _ in captions[lang]]
        for target, engine_name in config.targets(lang).items():
            translated, source = translators.translate(engine_name, texts, lang, target)
            result.texts.setdefault(lang, {})[target] = translated
            result.sources.setdefault(lang, {})[target] = source
    translators.flush()
    return result


Embed = Callable[[list[str], str], torch.Tensor]


def translation_embeddings(translations: dict[str, list[str]], query: torch.Tensor, embed: Embed) -> list[torch.Tensor]:
    """Each target's translations embedded in the target language; an empty translation
    takes the query's own embedding."""
    out = []
    for target, texts in sorted(translations.items()):
        rows = embed([text or "-" for text in texts], target)
        empty = torch.tensor([not text for text in texts])
        rows[empty] = query[empty]
        out.append(rows)
    return out


def consistency_scorer(images: torch.Tensor, query: torch.Tensor, translations: list[torch.Tensor],
                       query_weight: float | None) -> Scorer:
    """images × captions: each caption scored with its translations."""

    def score(rows: torch.Tensor, cols: torch.Tensor) -> Similarity:
        versions = [query[cols] @ images[rows].T] + [t[cols] @ images[rows].T for t in translations]
        return Similarity(consistency_scores(torch.stack(versions), query_weight).T)

    return score
