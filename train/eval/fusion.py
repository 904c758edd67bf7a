"""Retrieval evaluation for the fusion presets, on part 1's evaluation set and metrics.

Three ways to score an (image, caption) pair:

* ``embedding``: cosine of ``encode_image`` and ``encode_text`` (part 1's evaluation,
  here with language-aware tokenizers);
* ``itm``: the matching head's log-odds that the pair matches, every image against
  every caption (M3P ranks with its matching head);
* ``consistency`` (SMALR): the embedding score of a caption together with its
  translations, :func:`babelshard.train.models.smalr.consistency_scores`; the translations are
  the same image's captions in ``translation_languages`` (on the demo shards, CLDR names
  in the other languages).

Results have part 1's shape (``format_results`` prints them).
"""
from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from babelshard.train.config import EvalConfig
from babelshard.train.eval.retrieval import EvalSet, chance_recall, embed_images, load_eval_set, recall_at_k
from babelshard.train.data.batches import encode
from babelshard.train.models.smalr import consistency_scores

Scorer = Literal["embedding", "itm", "consistency"]


@torch.no_grad()
def embed_captions(model: torch.nn.Module, tokenizer: Any, texts: list[str], lang: str, batch_size: int, device: str) -> torch.Tensor:
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start: start + batch_size]
        tokens = encode(tokenizer, chunk, [lang] * len(chunk)).to(device)
        out.append(model.encode_text(tokens, [lang] * len(chunk)).float().cpu())
    return F.normalize(torch.cat(out), dim=-1)


@torch.no_grad()
def itm_scores(model: torch.nn.Module, tokenizer: Any, data: EvalSet, texts: list[str], lang: str,
               batch_size: int, device: str) -> torch.Tensor:
    """images × captions: log-odds of "match" from the matching head."""
    images = torch.from_numpy(np.stack(data.images)).to(device)
    context = model.image_context(images)
    tokens = encode(tokenizer, texts, [lang] * len(texts)).to(device)
    scores = torch.empty(len(data.images), len(texts))
    n_text = len(texts)
    pairs = [(i, j) for i in range(len(data.images)) for j in range(n_text)]
    for start in range(0, len(pairs), batch_size):
        chunk = torch.tensor(pairs[start: start + batch_size], device=device)
        logits = model.match_logits(tokens[chunk[:, 1]], [lang] * len(chunk), context.select(chunk[:, 0])).float()
        scores[chunk[:, 0].cpu(), chunk[:, 1].cpu()] = (logits[:, 1] - logits[:, 0]).cpu()
    return scores


def first_images(data: EvalSet, count: int | None) -> EvalSet:
    """The first ``count`` images and their captions (ITM scores every pair: N² passes)."""
    if count is None or count >= len(data.keys):
        return data
    captions = {lang: [(text, i) for text, i in caps if i < count] for lang, caps in data.captions.items()}
    return EvalSet(data.keys[:count], data.images[:count], data.features[:count], captions, data.skipped)


def translation_versions(data: EvalSet, owner: torch.Tensor, lang: str, languages: Sequence[str]) -> dict[str, list[int]]:
    """For each translation language, each caption's translation: the index of the first
    caption of the same image in that language (languages missing an image are skipped)."""
    versions = {}
    for other in languages:
        if other == lang or other not in data.captions:
            continue
        first: dict[int, int] = {}
        for index, (_, image) in enumerate(data.captions[other]):
            first.setdefault(image, index)
        if all(int(i) in first for i in owner):
            versions[other] = [first[int(i)] for i in owner]
    return versions


def consistency_similarity(images: torch.Tensor, texts: dict[str, torch.Tensor], data: EvalSet, lang: str,
                           owner: torch.Tensor, languages: Sequence[str], query_weight: float | None) -> torch.Tensor:
    """images × captions of ``lang``, each caption scored with its translations."""
    stacked = [texts[lang] @ images.T]
    for other, rows in translation_versions(data, owner, lang, languages).items():
        stacked.append(texts[other][torch.tensor(rows)] @ images.T)
    return consistency_scores(torch.stack(stacked), query_weight).T


def evaluate_fusion(model: torch.nn.Module, tokenizer: Any, config: EvalConfig, scorer: Scorer = "embedding",
                    device: str = "cpu", translation_languages: Sequence[str] | None = None,
                    query_weight: float | None = None, itm_images: int | None = None) -> dict[str, Any]:
    data = load_eval_set(config)
    if scorer == "itm":
        data = first_images(data, itm_images)
    model.eval()
    images = embed_images(model, data, config.batch_size, device) if scorer != "itm" else None
    owners = {lang: torch.tensor([i for _, i in captions]) for lang, captions in data.captions.items()}
    texts = {}
    if scorer != "itm":
        texts = {lang: embed_captions(model, tokenizer, [t for t, _ in captions], lang, config.batch_size, device)
                 for lang, captions in data.captions.items()}
    results: dict[str, Any] = {"images": len(data.keys), "skipped": data.skipped, "scorer": scorer, "languages": {}}
    for lang, captions in sorted(data.captions.items()):
        owner = owners[lang]
        if scorer == "itm":
            similarity = itm_scores(model, tokenizer, data, [t for t, _ in captions], lang, config.batch_size, device)
        elif scorer == "consistency":
            similarity = consistency_similarity(images, texts, data, lang, owner,
                                                translation_languages or sorted(data.captions), query_weight)
        else:
            similarity = images @ texts[lang].T
        metrics: dict[str, Any] = recall_at_k(similarity, owner)
        metrics["chance"] = chance_recall(np.bincount(owner.numpy(), minlength=len(data.keys)).tolist())
        metrics["captions"] = len(captions)
        results["languages"][lang] = metrics
    return results


def evaluate_scorers(model: torch.nn.Module, tokenizer: Any, config: EvalConfig, device: str = "cpu") -> dict[str, Any]:
    """``{scorer: results}`` for every scorer in ``config.scorers``."""
    return {scorer: evaluate_fusion(model, tokenizer, config, scorer, device, config.translation_languages,
                                    config.query_weight, config.itm_images)
            for scorer in config.scorers or ["embedding"]}
