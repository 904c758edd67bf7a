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
Each stream's kind (:mod:`streams`) says how its samples are viewed, decoded and
collated into its typed batch.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from babelshard.errors import UserError
from babelshard.records import SampleView
from babelshard.shards.index import ShardIndex, read_index
from babelshard.train.config import StreamConfig
from babelshard.train.data.batches import BatchMeta, MixedBatch
from babelshard.train.data.decode import DecodeError, in_holdout
from babelshard.train.data.shardstream import DataCounters, FolderStream, ShardErrorBudget, ShardSequence
from babelshard.train.data.streams import STREAM_KINDS, decode_item
from babelshard.train.data.tokenizer import Tokenizer, with_max_length
from babelshard.train.data.weights import folder_weights, resolve_language_weights

# An item transform returns the item (changed or not) and what it did (a counter name).
ItemTransform = Callable[[Any, np.random.Generator], tuple[Any, str]]


class NoUsableSamples(UserError):
    """A folder whose samples are all held out or undecodable."""


def epoch_batches(indexes: Sequence[ShardIndex], stream: StreamConfig, world: int, accum_steps: int = 1,
                  samples_per_epoch: int | None = None) -> int:
    """Micro-batches per epoch and rank: the first stream's sample budget (``samples_per_epoch``,
    default its index total less the held-out share) in whole optimizer steps."""
    budget = samples_per_epoch or int(sum(ix.samples for ix in indexes) * (1 - stream.holdout))
    steps = max(1, budget // (stream.batch_size * world * accum_steps))
    return steps * accum_steps


class StreamBatcher:
    """One stream inside one logical worker: folder streams, weights and decoding."""

    def __init__(self, config: StreamConfig, folders: list[FolderStream], views: list[type[SampleView]],
                 folder_p: list[float], weights: Mapping[str, float] | None):
        self.config, self.folders, self.views, self.folder_p, self.weights = config, folders, views, folder_p, weights
        self.counters = folders[0].counters
        # how many samples of a folder to try before giving up on it: twice its size
        self.limits = [2 * sum(s.samples for s in f.sequence.shards) + 1000 for f in folders]

    def cursor(self) -> list[dict[str, Any]]:
        return [f.cursor() for f in self.folders]

    def next_items(self, rng: np.random.Generator) -> list[Any]:
        size = self.config.batch_size
        picks = rng.choice(len(self.folders), size=size, p=self.folder_p) if len(self.folders) > 1 else [0] * size
        items = [self.next_item(int(pick), rng) for pick in picks]
        self.counters.count("samples", size)
        return items

    def next_item(self, pick: int, rng: np.random.Generator) -> Any:
        """The folder's next usable sample; held-out and undecodable ones are counted."""
        folder, view_of, limit = self.folders[pick], self.views[pick], self.limits[pick]
        for _ in range(limit):
            view = view_of(folder.next_raw())
            if self.config.holdout and in_holdout(view.key, self.config.holdout):
                self.counters.count("held_out")
                continue
            try:
                return decode_item(view, self.config, self.weights, rng)
            except DecodeError as error:
                self.counters.error("decode_errors", f"{self.config.name}: skipping {view.url} {view.key}: {error}")
        raise NoUsableSamples(f"stream {self.config.name!r}: no usable sample in {limit} from {folder.folder} "
                           f"(counts so far: {dict(self.counters.counts)})")


class MixedStream(IterableDataset):
    """Mixed batches (:class:`MixedBatch`: a typed batch per stream and the worker's meta) for one
    process (rank); ``batches_per_epoch`` defaults to :func:`epoch_batches`."""

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
        accum_steps: int = 1,
        samples_per_epoch: int | None = None,
        transforms: Mapping[str, ItemTransform] | None = None,
        error_budget: ShardErrorBudget | None = None,
    ):
        super().__init__()
        self.streams = list(streams)
        self.error_budget = error_budget or ShardErrorBudget()
        self.transforms = dict(transforms or {})
        unknown = sorted(set(self.transforms) - {s.name for s in self.streams})
        if unknown:
            raise ValueError(f"transforms for unknown streams: {unknown}")
        self.tokenizer, self.teacher_tokenizer = tokenizer, teacher_tokenizer or tokenizer
        self.stream_tokenizers = {s.name: with_max_length(tokenizer, s.max_length) for s in self.streams}
        self.seed, self.rank, self.world = seed, rank, world
        self.indexes = [[read_index(f) for f in s.folders] for s in self.streams]
        self.views = [[STREAM_KINDS[s.kind].view_of(ix.stream, f"data.streams.{i}.folders: {folder}")
                       for folder, ix in zip(s.folders, indexes)]
                      for i, (s, indexes) in enumerate(zip(self.streams, self.indexes))]
        self.language_weights = [
            resolve_language_weights(s.language_weights, s.language_alpha, s.folders, ix)
            for s, ix in zip(self.streams, self.indexes)
        ]
        self.folder_p = [folder_weights(ix, w) for ix, w in zip(self.indexes, self.language_weights)]
        self.batches_per_epoch = batches_per_epoch or epoch_batches(self.indexes[0], self.streams[0], world, accum_steps,
                                                                    samples_per_epoch)
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
            counters = DataCounters(stream=config.name, budget=self.error_budget)
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
            batchers.append(StreamBatcher(config, folders, self.views[s], self.folder_p[s], self.language_weights[s]))
        return batchers

    def __iter__(self) -> Iterator[MixedBatch]:
        info = get_worker_info()
        physical, workers = (0, 1) if info is None else (info.id, info.num_workers)
        worker = (physical + self.consumed) % workers
        batchers = self._batchers(worker, workers, self.worker_states.get(worker))
        for g in range(self.consumed + (worker - self.consumed) % workers, self.batches_per_epoch, workers):
            yield self.make_batch(g, worker, batchers)

    def transformed(self, batcher: StreamBatcher, rng: np.random.Generator) -> list[Any]:
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

    def make_batch(self, g: int, worker: int, batchers: list[StreamBatcher]) -> MixedBatch:
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, g])
        streams = {}
        for batcher in batchers:
            items = self.transformed(batcher, rng)
            collate = STREAM_KINDS[batcher.config.kind].collate
            tokenizer = self.stream_tokenizers[batcher.config.name]
            streams[batcher.config.name] = collate(items, tokenizer, self.teacher_tokenizer)
        meta = BatchMeta(
            index=g,
            epoch=self.epoch,
            worker=worker,
            cursor={b.config.name: b.cursor() for b in batchers},
            counters={b.config.name: dict(b.counters.counts) for b in batchers},
        )
        return MixedBatch(streams, meta)
