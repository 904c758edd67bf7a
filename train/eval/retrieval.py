"""Retrieval evaluation: mean recall (R@1/5/10, image→text and text→image) per language.

Held-out caption shards are read in order. Every image may have several captions in
a language (the ``<lang>.txt`` member plus ``extra_captions`` in the metadata): as in
the papers, image→text counts a hit when any of the image's captions is in the top K,
text→image when the caption's own image is. Chance levels are computed exactly for the
same sizes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from babelshard.records import CaptionView
from babelshard.shards.reader import iter_samples
from babelshard.train.config import EvalConfig
from babelshard.train.data.batches import ImageInputs
from babelshard.train.data.decode import DecodeError, decode_visual, in_holdout

KS = (1, 5, 10)


@dataclass
class EvalSet:
    """Decoded images (or features) and, per language, captions with their image index."""

    keys: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    captions: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    skipped: int = 0


def load_eval_set(config: EvalConfig) -> EvalSet:
    """The images (centre crop, no randomness) or features of the held-out samples, with
    every caption in the evaluated languages."""
    image = config.image.model_copy(update={"random_crop": False}) if config.features is None else None
    data = EvalSet()
    for folder in config.folders:
        for view in map(CaptionView, iter_samples(folder)):
            if config.holdout is not None and not in_holdout(view.key, config.holdout):
                continue
            try:
                visual = decode_visual(view, image, config.features, None, np.random.default_rng(0))
            except DecodeError:
                data.skipped += 1
                continue
            index = len(data.keys)
            data.keys.append(view.key)
            if visual.image is not None:
                data.images.append(visual.image)
            else:
                data.features.append(visual.features)
            extra = view.extra_captions
            for lang in view.languages:
                if config.languages is None or lang in config.languages:
                    texts = [view.caption(lang), *extra.get(lang, [])]
                    data.captions.setdefault(lang, []).extend((text, index) for text in texts)
    if not data.keys:
        raise ValueError(f"no evaluation samples in {config.folders}")
    return data


def recall_at_k(similarity: torch.Tensor, owner: torch.Tensor, ks: Sequence[int] = KS) -> dict[str, float]:
    """``similarity``: images × captions; ``owner[j]``: the image of caption j. Percentages."""
    n_images = similarity.shape[0]
    positive = owner.unsqueeze(0) == torch.arange(n_images).unsqueeze(1)
    own_score = similarity.gather(0, owner.unsqueeze(0)).squeeze(0)  # each caption's score with its image
    t2i_rank = (similarity > own_score.unsqueeze(0)).sum(dim=0)
    # image→text: the best rank among the image's own captions
    best_own = similarity.masked_fill(~positive, float("-inf")).max(dim=1).values
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


@torch.no_grad()
def embed_images(model: torch.nn.Module, data: EvalSet, batch_size: int, device: str) -> torch.Tensor:
    rows = data.images or data.features
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = torch.from_numpy(np.stack(rows[start : start + batch_size])).to(device)
        inputs = ImageInputs(image=chunk) if data.images else ImageInputs(features=chunk)
        out.append(model.encode_image(inputs).float().cpu())
    return torch.nn.functional.normalize(torch.cat(out), dim=-1)


@torch.no_grad()
def embed_texts(model: torch.nn.Module, tokenizer: Any, texts: list[str], lang: str, batch_size: int, device: str) -> torch.Tensor:
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        tokens = torch.from_numpy(tokenizer.encode(chunk)).to(device)
        out.append(model.encode_text(tokens, [lang] * len(chunk)).float().cpu())
    return torch.nn.functional.normalize(torch.cat(out), dim=-1)


def supported_languages(model: torch.nn.Module) -> set[str] | None:
    """Languages a model can encode (MLA: its acquirers and English); None: any."""
    acquirers = getattr(model, "acquirers", None)
    return None if acquirers is None else set(acquirers) | {"en"}


def evaluate(model: torch.nn.Module, tokenizer: Any, config: EvalConfig, device: str = "cpu") -> dict[str, Any]:
    """``{"images": N, "languages": {lang: {"captions", metrics..., "chance": {...}}}}``."""
    data = load_eval_set(config)
    model.eval()
    images = embed_images(model, data, config.batch_size, device)
    supported = supported_languages(model)
    results: dict[str, Any] = {"images": len(data.keys), "skipped": data.skipped, "languages": {}}
    for lang, captions in sorted(data.captions.items()):
        if supported is not None and lang not in supported:
            continue
        texts = embed_texts(model, tokenizer, [t for t, _ in captions], lang, config.batch_size, device)
        owner = torch.tensor([i for _, i in captions])
        metrics = recall_at_k(images @ texts.T, owner)
        per_image = np.bincount(owner.numpy(), minlength=len(data.keys)).tolist()
        metrics["chance"] = chance_recall(per_image)
        metrics["captions"] = len(captions)
        results["languages"][lang] = metrics
    return results


def format_results(results: dict[str, Any]) -> str:
    lines = [f"{results['images']} images", "lang  captions  mean_recall  chance  i2t R@1/5/10        t2i R@1/5/10"]
    for lang, m in results["languages"].items():
        i2t = "/".join(f"{m[f'i2t_r{k}']:.1f}" for k in KS)
        t2i = "/".join(f"{m[f't2i_r{k}']:.1f}" for k in KS)
        lines.append(f"{lang:<5} {m['captions']:>8}  {m['mean_recall']:>11.1f}  {m['chance']['mean_recall']:>6.1f}  {i2t:<18}  {t2i}")
    return "\n".join(lines)
