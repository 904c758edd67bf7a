"""Scoring with a model's matching head (M3P's MC-VLM, the unified model's ITM).

* ``itm``: every image of a group against every caption (N × M joint passes);
* ``rerank``: the contrastive (embedding) scores rank every candidate, then the matching
  head re-ranks each query's top K: for each image its K best captions, for each caption
  its K best images. Candidates outside a query's top K keep their embedding order below
  the re-ranked ones, so R@K for K up to ``rerank_top_k`` is the re-ranked recall.

The model needs ``image_context(images)`` and ``match_logits(tokens, languages, context)``;
the score of a pair is the log-odds of "match".
"""
from __future__ import annotations

import numpy as np
import torch

from babelshard.train.eval.evalset import EvalSet
from babelshard.train.eval.retrieval import Scorer, Similarity


@torch.no_grad()
def match_scores(model: torch.nn.Module, data: EvalSet, images: torch.Tensor, tokens: torch.Tensor, lang: str,
                 batch_size: int, device: str) -> torch.Tensor:
    """Log-odds of "match" for pairs (``images[p]``: an image index of ``data``,
    ``tokens[p]``: the caption's token row). The image tower runs once per chunk on the
    chunk's distinct images, so memory stays bounded by ``batch_size``."""
    order = torch.argsort(images, stable=True)
    out = torch.empty(len(images))
    for start in range(0, len(order), batch_size):
        rows = order[start: start + batch_size]
        distinct, which = torch.unique(images[rows], return_inverse=True)
        pixels = torch.from_numpy(np.stack([data.images[int(i)] for i in distinct])).to(device)
        context = model.image_context(pixels).select(which.to(device))
        logits = model.match_logits(tokens[rows].to(device), [lang] * len(rows), context).float()
        out[rows] = (logits[:, 1] - logits[:, 0]).cpu()
    return out


def itm_scorer(model: torch.nn.Module, data: EvalSet, tokens: torch.Tensor, lang: str, batch_size: int,
               device: str) -> Scorer:
    """Every (image, caption) pair of a group through the matching head."""

    def score(rows: torch.Tensor, cols: torch.Tensor) -> Similarity:
        images = rows.repeat_interleave(len(cols))
        captions = cols.repeat(len(rows))
        logits = match_scores(model, data, images, tokens[captions], lang, batch_size, device)
        return Similarity(logits.view(len(rows), len(cols)))

    return score


def top_k_pairs(base: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's top-k captions (images × k) and each caption's top-k images (k × captions)."""
    return base.topk(min(k, base.shape[1]), dim=1).indices, base.topk(min(k, base.shape[0]), dim=0).indices


def rerank_scorer(model: torch.nn.Module, data: EvalSet, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor,
                  tokens: torch.Tensor, lang: str, top_k: int, batch_size: int, device: str) -> Scorer:
    """Embedding scores with each query's top ``top_k`` re-ranked by the matching head."""

    def score(rows: torch.Tensor, cols: torch.Tensor) -> Similarity:
        base = image_embeddings[rows] @ text_embeddings[cols].T
        best_captions, best_images = top_k_pairs(base, top_k)
        n, m = base.shape
        pairs = torch.cat([
            torch.stack([torch.arange(n).repeat_interleave(best_captions.shape[1]), best_captions.flatten()], dim=1),
            torch.stack([best_images.flatten(), torch.arange(m).repeat(best_images.shape[0])], dim=1),
        ]).unique(dim=0)
        logits = match_scores(model, data, rows[pairs[:, 0]], tokens[cols[pairs[:, 1]]], lang, batch_size, device)
        matched = torch.zeros_like(base)
        matched[pairs[:, 0], pairs[:, 1]] = logits
        shift = base.max() - logits.min() + 1.0  # re-ranked candidates stay above every other one
        i2t = base.scatter(1, best_captions, matched.gather(1, best_captions) + shift)
        t2i = base.scatter(0, best_images, matched.gather(0, best_images) + shift)
        return Similarity(i2t, t2i)

    return score
