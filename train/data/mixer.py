"""The stream mixer: one iterable that yields, per step, a sub-batch from every stream.

Inside each DataLoader worker (or the main process) the mixer builds complete mixed
batches. Global batch ``g`` of an epoch is made by logical worker ``g % W``; the
DataLoader collects workers round-robin, so batches arrive in order ``0, 1, 2, ...``.
Every random choice of batch ``g`` (folder by language weight, caption language,
caption variant, crop) comes from a generator seeded by ``(seed, epoch, rank, g)``;
the shard order of each folder from ``(seed, epoch, rank, worker, stream, folder)``.
Each batch carries its worker's cursor, so the trainer can save the data position and
:meth:`MixedStream.begin_epoch` can restart every worker exactly where it was,
rotating physical workers so the next batch to arrive is batch ``consumed``.
Per-stream item transforms (online code-switching, :mod:`codeswitch_online`) run after
decoding and draw from the batch's generator, so resumed runs repeat them exactly.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from babelshard.shards.index import read_index
from babelshard.train.config import StreamConfig
from babelshard.train.data.decode import DecodeError, decode_item, in_holdout
from babelshard.train.data.shardstream import DataCounters, FolderStream, ShardSequence
from babelshard.train.data.tokenizer import Tokenizer
from babelshard.train.data.weights import folder_weights, resolve_language_weights


ItemTransform = Callable[[dict[str, Any], np.random.Generator], tuple[dict[str, Any], str]]


def encode(tokenizer: Tokenizer, texts: list[str], languages: Sequence[str]) -> torch.Tensor:
    """Token rows; a ``language_aware`` tokenizer (SMALR's hybrid one) also gets each text's language."""
    if getattr(tokenizer, "language_aware", False):
        return torch.from_numpy(tokenizer.encode(texts, list(languages)))
    return torch.from_numpy(tokenizer.encode(texts))


def collate(kind: str, items: list[dict[str, Any]], tokenizer: Tokenizer, teacher: Tokenizer) -> dict[str, Any]:
    """Stack one stream's items into tensors; texts become fixed-length token rows."""
    batch: dict[str, Any] = {"keys": [it["key"] for it in items]}
    if kind == "parallel":
        batch["src_lang"] = [it["src_lang"] for it in items]
        batch["tgt_lang"] = [it["tgt_lang"] for it in items]
        batch["src_tokens"] = encode(tokenizer, [it["src_text"] for it in items], batch["src_lang"])
        batch["tgt_tokens"] = encode(tokenizer, [it["tgt_text"] for it in items], batch["tgt_lang"])
        batch["teacher_tokens"] = encode(teacher, [it["src_text"] for it in items], batch["src_lang"])
        return batch
    batch["lang"] = [it["lang"] for it in items]
    batch["tokens"] = encode(tokenizer, [it["text"] for it in items], batch["lang"])
    if kind == "caption":
        batch["variant"] = [it["variant"] for it in items]
        if "en_text" in items[0]:
            batch["teacher_tokens"] = encode(teacher, [it["en_text"] for it in items], ["en"] * len(items))
        for name in ("image", "features", "region_labels"):
            if name in items[0]:
                batch[name] = torch.from_numpy(np.stack([it[name] for it in items]))
    return batch


class StreamBatcher:
    """One stream inside one logical worker: folder streams, weights and decoding."""

    def __init__(self, config: StreamConfig, folders: list[FolderStream], folder_p: list[float], weights: Mapping[str, float] | None):
        self.config, self.folders, self.folder_p, self.weights = config, folders, folder_p, weights
        self.counters = folders[0].counters

    def cursor(self) -> list[dict[str, Any]]:
        return [f.cursor() for f in self.folders]

    def next_items(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        size = self.config.batch_size
        picks = rng.choice(len(self.folders), size=size, p=self.folder_p) if len(self.folders) > 1 else [0] * size
        items = [self.next_item(self.folders[int(pick)], rng) for pick in picks]
        self.counters.count("samples", size)
        return items

    def next_item(self, folder: FolderStream, rng: np.random.Generator) -> dict[str, Any]:
        """The folder's next usable sample; held-out and undecodable ones are counted."""
        limit = 2 * sum(s.samples for s in folder.sequence.shards) + 1000
        for _ in range(limit):
            raw = folder.next_raw()
            if self.config.holdout and in_holdout(raw["__key__"], self.config.holdout):
                self.counters.count("held_out")
                continue
            try:
                return decode_item(raw, self.config, self.weights, rng)
            except DecodeError as error:
                self.counters.error("decode_errors", f"{self.config.name}: skipping {raw.get('__url__', '')} {raw.get('__key__')}: {error}")
        raise RuntimeError(f"stream {self.config.name!r}: no usable sample in {limit} from {folder.folder} "
                           f"(counts so far: {dict(self.counters.counts)})")


class MixedStream(IterableDataset):
    """Mixed batches ``{"streams": {name: batch}, "meta": {...}}`` for one process (rank)."""

    def __init__(
        self,
        streams: Sequence[StreamConfig],
        tokenizer: Tokenizer,
        teacher_tokenizer: Tokenizer | None = None,
        *,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        batches_per_epoch: int | None = None,
        transforms: Mapping[str, ItemTransform] | None = None,
    ):
        super().__init__()
        self.streams = list(streams)
        self.transforms = dict(transforms or {})
        unknown = sorted(set(self.transforms) - {s.name for s in self.streams})
        if unknown:
            raise ValueError(f"transforms for unknown streams: {unknown}")
        self.tokenizer, self.teacher_tokenizer = tokenizer, teacher_tokenizer or tokenizer
        self.seed, self.rank, self.world = seed, rank, world
        self.indexes = [[read_index(f) for f in s.folders] for s in self.streams]
        self.language_weights = [
            resolve_language_weights(s.language_weights, s.language_alpha, s.folders, ix)
            for s, ix in zip(self.streams, self.indexes)
        ]
        self.folder_p = [folder_weights(ix, w) for ix, w in zip(self.indexes, self.language_weights)]
        first = self.streams[0]
        budget = int(sum(ix.samples for ix in self.indexes[0]) * (1 - first.holdout))
        self.batches_per_epoch = batches_per_epoch or max(1, budget // (first.batch_size * world))
        self.epoch, self.consumed = 0, 0
        self.worker_states: dict[int, dict[str, Any]] = {}

    def begin_epoch(self, epoch: int, consumed: int = 0, worker_states: Mapping[int, Any] | None = None) -> None:
        """Set the shared epoch and where in it to start (batches already consumed, with
        each worker's cursor as last reported)."""
        self.epoch, self.consumed = epoch, consumed
        self.worker_states = {int(k): v for k, v in (worker_states or {}).items()}

    def _batchers(self, worker: int, workers: int, state: Mapping[str, Any] | None) -> list[StreamBatcher]:
        batchers = []
        for s, (config, indexes) in enumerate(zip(self.streams, self.indexes)):
            counters = DataCounters()
            cursors = (state or {}).get(config.name) or [None] * len(indexes)
            folders = []
            for f, (folder, index) in enumerate(zip(config.folders, indexes)):
                if config.resample:  # each worker of each rank draws its own sequence
                    sequence = ShardSequence(index, (self.seed, self.epoch, self.rank, s, f), True, worker, workers)
                else:  # one permutation per round for all, split by global worker id
                    sequence = ShardSequence(index, (self.seed, self.epoch, s, f), False,
                                             self.rank * workers + worker, self.world * workers)
                folders.append(FolderStream(folder, sequence, interleave=config.interleave, shuffle=config.shuffle,
                                            verify=config.verify, counters=counters, cursor=cursors[f]))
            batchers.append(StreamBatcher(config, folders, self.folder_p[s], self.language_weights[s]))
        return batchers

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        physical, workers = (0, 1) if info is None else (info.id, info.num_workers)
        worker = (physical + self.consumed) % workers
        batchers = self._batchers(worker, workers, self.worker_states.get(worker))
        for g in range(self.consumed + (worker - self.consumed) % workers, self.batches_per_epoch, workers):
            yield self.make_batch(g, worker, batchers)

    def transformed(self, batcher: StreamBatcher, rng: np.random.Generator) -> list[dict[str, Any]]:
        """The stream's next items after its transform (e.g. online code-switching), if any;
        transforms draw from the batch's generator after the items, so resumed runs repeat them."""
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
            streams[batcher.config.name] = collate(batcher.config.kind, items, self.tokenizer, self.teacher_tokenizer)
        meta = {
            "index": g,
            "epoch": self.epoch,
            "worker": worker,
            "cursor": {b.config.name: b.cursor() for b in batchers},
            "counters": {b.config.name: dict(b.counters.counts) for b in batchers},
        }
        return {"streams": streams, "meta": meta}
