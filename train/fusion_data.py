"""Part 1's stream mixer with two additions the fusion presets need:

* language-aware tokenization: a tokenizer with ``language_aware = True`` (SMALR's
  hybrid vocabulary) gets each text's language (``encode(texts, languages)``);
* per-stream item transforms after decoding: online code-switching of English
  captions (:mod:`codeswitch_online`), counted per outcome in the stream's counters.

Shard order, cursors, resumption and the per-batch generator are part 1's
(:class:`~babelshard.train.mixer.MixedStream`); transforms draw from the batch's
generator after the items, so resumed runs repeat them exactly.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from babelshard.train.mixer import MixedStream, StreamBatcher, collate

ItemTransform = Callable[[dict[str, Any], np.random.Generator], tuple[dict[str, Any], str]]


def encode(tokenizer: Any, texts: list[str], languages: Sequence[str]) -> torch.Tensor:
    if getattr(tokenizer, "language_aware", False):
        return torch.from_numpy(tokenizer.encode(texts, list(languages)))
    return torch.from_numpy(tokenizer.encode(texts))


def collate_items(kind: str, items: list[dict[str, Any]], tokenizer: Any, teacher: Any) -> dict[str, Any]:
    """Part 1's collate, or its language-aware equivalent; stacks ``region_labels``."""
    if not (getattr(tokenizer, "language_aware", False) or getattr(teacher, "language_aware", False)):
        batch = collate(kind, items, tokenizer, teacher)
    else:
        batch = language_aware_collate(kind, items, tokenizer, teacher)
    if kind == "caption" and "region_labels" in items[0]:
        batch["region_labels"] = torch.from_numpy(np.stack([it["region_labels"] for it in items]).astype(np.int64))
    return batch


def language_aware_collate(kind: str, items: list[dict[str, Any]], tokenizer: Any, teacher: Any) -> dict[str, Any]:
    batch: dict[str, Any] = {"keys": [it["key"] for it in items]}
    if kind == "parallel":
        for side in ("src", "tgt"):
            batch[f"{side}_lang"] = [it[f"{side}_lang"] for it in items]
            batch[f"{side}_tokens"] = encode(tokenizer, [it[f"{side}_text"] for it in items], batch[f"{side}_lang"])
        batch["teacher_tokens"] = encode(teacher, [it["src_text"] for it in items], batch["src_lang"])
        return batch
    batch["lang"] = [it["lang"] for it in items]
    batch["tokens"] = encode(tokenizer, [it["text"] for it in items], batch["lang"])
    if kind == "caption":
        batch["variant"] = [it["variant"] for it in items]
        if "en_text" in items[0]:
            batch["teacher_tokens"] = encode(teacher, [it["en_text"] for it in items], ["en"] * len(items))
        for name in ("image", "features"):
            if name in items[0]:
                batch[name] = torch.from_numpy(np.stack([it[name] for it in items]))
    return batch


class FusionMixedStream(MixedStream):
    """:class:`MixedStream` with item transforms by stream name and language-aware collation."""

    def __init__(self, *args: Any, transforms: Mapping[str, ItemTransform] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.transforms = dict(transforms or {})
        unknown = sorted(set(self.transforms) - {s.name for s in self.streams})
        if unknown:
            raise ValueError(f"transforms for unknown streams: {unknown}")

    def transformed(self, batcher: StreamBatcher, rng: np.random.Generator) -> list[dict[str, Any]]:
        items = batcher.next_items(rng)
        transform = self.transforms.get(batcher.config.name)
        if transform is None:
            return items
        out = []
        for item in items:
            item, outcome = transform(item, rng)
            batcher.counters.count(f"transform/{outcome}")
            out.append(item)
        return out

    def make_batch(self, g: int, worker: int, batchers: list[StreamBatcher]) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, g])
        streams = {}
        for batcher in batchers:
            items = self.transformed(batcher, rng)
            streams[batcher.config.name] = collate_items(batcher.config.kind, items, self.tokenizer, self.teacher_tokenizer)
        meta = {
            "index": g,
            "epoch": self.epoch,
            "worker": worker,
            "cursor": {b.config.name: b.cursor() for b in batchers},
            "counters": {b.config.name: dict(b.counters.counts) for b in batchers},
        }
        return {"streams": streams, "meta": meta}
