"""Retrieval evaluation: mean recall (R@1/5/10, image→text and text→image) per language.

Every image may have several captions in a language (the ``<lang>.txt`` member plus
``extra_captions``): as in the papers, image→text counts a hit when any of the image's
captions is in the top K, and every caption is a text→image query whose hit is its own
image. With ``eval.folds`` each 1K fold is ranked on its own and the recalls are
averaged over the folds (MSCOCO 1K); otherwise all images are ranked together (5K).
Chance levels are computed exactly for the same sizes.

A scorer is a function ``(image rows, caption rows) -> Similarity`` over one group of
images and their captions; the embedding scorer here, the matching-head and
consistency scorers in :mod:`babelshard.train.eval.fusion`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from babelshard.train.config import EvalConfig
from babelshard.train.data.batches import ImageInputs, encode
from babelshard.train.eval.evalset import EvalSet, first_images, image_groups, load_eval_set

__all__ = ["EvalSet", "first_images", "image_groups", "load_eval_set"]

KS = (1, 5, 10)
RECALL_KEYS = tuple(f"{d}_r{k}" for d in ("i2t", "t2i") for k in KS) + ("mean_recall",)


@dataclass(frozen=True)
class Similarity:
    """images × captions scores; ``t2i`` ranks images for each caption when it differs
    from ``i2t`` (re-ranking changes each direction's top K separately)."""

    i2t: torch.Tensor
    t2i: torch.Tensor | None = None


Scorer = Callable[[torch.Tensor, torch.Tensor], Similarity]


def recall_at_k(similarity: torch.Tensor, owner: torch.Tensor, ks: Sequence[int] = KS,
                t2i_similarity: torch.Tensor | None = None) -> dict[str, float]:
    """``similarity``: images × captions; ``owner[j]``: the image of caption j. Percentages.
    ``t2i_similarity`` (same shape) ranks the images for each caption when given."""
    n_images = similarity.shape[0]
    t2i = similarity if t2i_similarity is None else t2i_similarity
    own_t2i = t2i.gather(0, owner.unsqueeze(0)).squeeze(0)  # each caption's score with its image
    t2i_rank = (t2i > own_t2i.unsqueeze(0)).sum(dim=0)
    # image→text: the best rank among the image's own captions
    own_i2t = similarity.gather(0, owner.unsqueeze(0)).squeeze(0)
    best_own = torch.full((n_images,), float("-inf"), dtype=similarity.dtype).scatter_reduce(
        0, owner, own_i2t, reduce="amax")
    i2t_rank = (similarity > best_own.unsqueeze(1)).sum(dim=1)
    out = {}
    for k in ks:
        out[f"i2t_r{k}"] = 100.0 * float((i2t_rank < k).float().mean())
        out[f"t2i_r{k}"] = 100.0 * float((t2i_rank < k).float().mean())
    out["mean_recall"] = sum(out.values()) / len(out)
    return out


def chance_recall(captions_per_image: Sequence[int], ks: Sequence[int] = KS) -> dict[str, float]:
    """Expected recall of a random ranking: t2i K/N; i2t 1 - C(M-c, K)/C(M, K)."""
    n, m = len(captions_per_image), sum(captions_per_image)
    out = {}
    for k in ks:
        i2t = [1.0 - math.comb(m - c, k) / math.comb(m, k) if k <= m else 1.0 for c in captions_per_image]
        out[f"i2t_r{k}"] = 100.0 * sum(i2t) / n
        out[f"t2i_r{k}"] = 100.0 * min(1.0, k / n)
    out["mean_recall"] = sum(out.values()) / len(out)
    return out


def group_metrics(scorer: Scorer, owner: torch.Tensor, images: torch.Tensor) -> dict[str, Any]:
    """Recall of one group of images, ranked among themselves with their own captions."""
    captions = torch.isin(owner, images).nonzero().squeeze(1)
    position = torch.full((max(int(owner.max()), int(images.max())) + 1,), -1, dtype=torch.long)
    position[images] = torch.arange(len(images))
    local_owner = position[owner[captions]]
    scores = scorer(images, captions)
    metrics: dict[str, Any] = recall_at_k(scores.i2t, local_owner, t2i_similarity=scores.t2i)
    metrics["chance"] = chance_recall(np.bincount(local_owner.numpy(), minlength=len(images)).tolist())
    metrics["captions"] = int(len(captions))
    return metrics


def average_groups(per_group: list[tuple[int | None, dict[str, Any]]]) -> dict[str, Any]:
    """One group's metrics as they are; several folds' recalls and chance averaged, with
    each fold's metrics under ``folds``."""
    if len(per_group) == 1 and per_group[0][0] is None:
        return per_group[0][1]
    metrics: dict[str, Any] = {key: float(np.mean([m[key] for _, m in per_group])) for key in RECALL_KEYS}
    metrics["chance"] = {key: float(np.mean([m["chance"][key] for _, m in per_group])) for key in RECALL_KEYS}
    metrics["captions"] = sum(m["captions"] for _, m in per_group)
    metrics["folds"] = {str(fold): m for fold, m in per_group}
    return metrics


def language_metrics(scorer: Scorer, owner: torch.Tensor, groups: list[tuple[int | None, torch.Tensor]]) -> dict[str, Any]:
    """A language's metrics over the image groups (all images, or each 1K fold)."""
    with_captions = [(name, images) for name, images in groups if torch.isin(owner, images).any()]
    return average_groups([(name, group_metrics(scorer, owner, images)) for name, images in with_captions])


def embedding_scorer(images: torch.Tensor, texts: torch.Tensor) -> Scorer:
    """Cosine of the normalised image and caption embeddings."""
    return lambda rows, cols: Similarity(images[rows] @ texts[cols].T)


@torch.no_grad()
def embed_images(model: torch.nn.Module, data: EvalSet, batch_size: int, device: str) -> torch.Tensor:
    rows = data.images or data.features
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = torch.from_numpy(np.stack(rows[start : start + batch_size])).to(device)
        inputs = ImageInputs(image=chunk) if data.images else ImageInputs(features=chunk)
        out.append(model.encode_image(inputs).float().cpu())
    return F.normalize(torch.cat(out), dim=-1)


@torch.no_grad()
def embed_texts(model: torch.nn.Module, tokenizer: Any, texts: list[str], lang: str, batch_size: int, device: str) -> torch.Tensor:
    """Normalised text embeddings; a language-aware tokenizer gets the language too."""
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        tokens = encode(tokenizer, chunk, [lang] * len(chunk)).to(device)
        out.append(model.encode_text(tokens, [lang] * len(chunk)).float().cpu())
    return F.normalize(torch.cat(out), dim=-1)


def supported_languages(model: torch.nn.Module) -> set[str] | None:
    """Languages a model can encode (MLA: its acquirers and English); None: any."""
    acquirers = getattr(model, "acquirers", None)
    return None if acquirers is None else set(acquirers) | {"en"}


def caption_owner(captions: list[tuple[str, int]]) -> torch.Tensor:
    return torch.tensor([i for _, i in captions], dtype=torch.long)


def base_results(data: EvalSet, groups: list[tuple[int | None, torch.Tensor]]) -> dict[str, Any]:
    results: dict[str, Any] = {**data.counts(), "languages": {}}
    if groups[0][0] is not None:
        results["folds"] = len(groups)
        results["fold_images"] = [len(images) for _, images in groups]
    return results


def evaluate(model: torch.nn.Module, tokenizer: Any, config: EvalConfig, device: str = "cpu") -> dict[str, Any]:
    """``{"images": N, "languages": {lang: {metrics..., "captions", "chance": {...}}}}``
    (with ``eval.folds``: the fold average, each fold's metrics under ``folds``)."""
    data = load_eval_set(config)
    model.eval()
    groups = image_groups(data, config.folds)
    images = embed_images(model, data, config.batch_size, device)
    supported = supported_languages(model)
    results = base_results(data, groups)
    for lang, captions in sorted(data.captions.items()):
        if supported is not None and lang not in supported:
            continue
        texts = embed_texts(model, tokenizer, [t for t, _ in captions], lang, config.batch_size, device)
        results["languages"][lang] = language_metrics(embedding_scorer(images, texts), caption_owner(captions), groups)
    return results


def format_results(results: dict[str, Any]) -> str:
    folds = f", mean of {results['folds']} folds" if results.get("folds") else ""
    lines = [f"{results['images']} images{folds}", "lang  captions  mean_recall  chance  i2t R@1/5/10        t2i R@1/5/10"]
    for lang, m in results["languages"].items():
        i2t = "/".join(f"{m[f'i2t_r{k}']:.1f}" for k in KS)
        t2i = "/".join(f"{m[f't2i_r{k}']:.1f}" for k in KS)
        lines.append(f"{lang:<5} {m['captions']:>8}  {m['mean_recall']:>11.1f}  {m['chance']['mean_recall']:>6.1f}  {i2t:<18}  {t2i}")
    return "\n".join(lines)
