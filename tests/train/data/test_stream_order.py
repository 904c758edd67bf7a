"""The loader's output pinned against a plain reference: every batch (keys, decoded rows,
cursor, counters) for a seed equals what a straightforward loop computes from the
documented rules, with Python's ``tarfile`` reading the shards. The rules (module docs of
``shardstream`` and ``mixer``): shard draws and in-shard permutations from seeded
generators, ``interleave`` shards read in turn, batch ``g`` made by logical worker
``g % W`` with every random choice (folder picks first, then each item's decoding in
row order) from a generator seeded by ``(seed, epoch, rank, g)``. Also: an epoch
without resampling covers every sample once, and a checkpoint's cursor keeps its form."""
from __future__ import annotations

import dataclasses
import os
import shutil
import tarfile
from collections import Counter
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from babelshard.records import RECORD_VIEWS
from babelshard.shards.index import read_index
from babelshard.train.data.decode import DecodeError, in_holdout
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.streams import STREAM_KINDS
from babelshard.train.data.tokenizer import HashTokenizer, with_max_length
from babelshard.train.data.weights import folder_weights, resolve_language_weights
from babelshard.train.loop.checkpoint import TrainState
from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig, ParallelStreamConfig, TextStreamConfig

TOKENIZER = HashTokenizer(max_length=16)


def tar_samples(path: str) -> list[dict[str, Any]]:
    """A shard's samples in tar order, read with Python's tarfile (members grouped by key)."""
    samples: list[dict[str, Any]] = []
    with tarfile.open(path) as archive:
        for member in archive:
            key, _, extension = member.name.rsplit("/", 1)[-1].partition(".")
            if not samples or samples[-1]["__key__"] != key:
                samples.append({"__key__": key, "__url__": path})
            samples[-1][extension] = archive.extractfile(member).read()
    return samples


class ReferenceFolder:
    """One folder as one logical worker reads it, written out plainly."""

    def __init__(self, folder: str, seed: tuple, resample: bool, worker: int, workers: int, interleave: int,
                 shuffle: bool, broken: frozenset[str] = frozenset()):
        self.index = read_index(folder)
        self.samples = {s.name: tar_samples(os.path.join(folder, s.name)) for s in self.index.shards if s.name not in broken}
        self.seed, self.resample, self.worker, self.workers = seed, resample, worker, workers
        self.shuffle, self.broken = shuffle, broken
        self.slots: list[list | None] = [None] * interleave  # [seq, order, samples, offset]
        self.next_seq, self.turn = 0, 0
        self.counts: Counter = Counter()

    def shard_name(self, j: int) -> str:
        shards, n = self.index.shards, len(self.index.shards)
        if self.resample:
            counts = np.asarray([s.samples for s in shards], dtype=np.float64)
            draws = np.random.default_rng([*self.seed, self.worker, j // 256]).choice(n, size=256, p=counts / counts.sum())
            return shards[int(draws[j % 256])].name
        mine = np.random.default_rng([*self.seed, j // len(range(self.worker, n, self.workers))]).permutation(n)
        mine = mine[self.worker :: self.workers]
        return shards[int(mine[j % len(mine)])].name

    def load_next(self) -> list:
        while True:
            seq, name = self.next_seq, self.shard_name(self.next_seq)
            self.next_seq += 1
            if name in self.broken:
                self.counts["shard_errors"] += 1
                continue
            self.counts["shards_read"] += 1
            samples = self.samples[name]
            order = np.arange(len(samples))
            if self.shuffle:
                order = np.random.default_rng([*self.seed, self.worker, 1 << 20, seq]).permutation(len(samples))
            return [seq, order, samples, 0]

    def next_sample(self) -> dict[str, Any]:
        i, self.turn = self.turn, (self.turn + 1) % len(self.slots)
        slot = self.slots[i]
        if slot is None or slot[3] >= len(slot[2]):
            slot = self.slots[i] = self.load_next()
        sample = slot[2][int(slot[1][slot[3]])]
        slot[3] += 1
        return sample

    def cursor(self) -> dict[str, Any]:
        return {"next_seq": self.next_seq, "turn": self.turn,
                "slots": [None if s is None else [s[0], s[3]] for s in self.slots]}


class ReferenceStream:
    def __init__(self, config, number: int, seed: int, epoch: int, rank: int, world: int, worker: int, workers: int,
                 broken: frozenset[str]):
        indexes = [read_index(f) for f in config.folders]
        self.config, self.counts = config, Counter()
        self.weights = resolve_language_weights(config.language_weights, config.language_alpha, config.folders, indexes)
        self.folder_p = folder_weights(indexes, self.weights)
        self.views = [RECORD_VIEWS[ix.stream] for ix in indexes]
        self.folders = []
        for f, folder in enumerate(config.folders):
            if config.resample:
                args = ((seed, epoch, rank, number, f), True, worker, workers)
            else:
                args = ((seed, epoch, number, f), False, rank * workers + worker, world * workers)
            self.folders.append(ReferenceFolder(folder, *args, config.interleave, config.shuffle, broken))

    def items(self, rng: np.random.Generator) -> list[Any]:
        size = self.config.batch_size
        picks = rng.choice(len(self.folders), size=size, p=self.folder_p) if len(self.folders) > 1 else [0] * size
        items = []
        for pick in picks:
            while True:
                view = self.views[pick](self.folders[pick].next_sample())
                if self.config.holdout and in_holdout(view.key, self.config.holdout):
                    self.counts["held_out"] += 1
                    continue
                try:
                    items.append(STREAM_KINDS[self.config.kind].decode(view, self.config, self.weights, rng))
                    break
                except DecodeError:
                    self.counts["decode_errors"] += 1
        self.counts["samples"] += size
        return items

    def counters(self) -> dict[str, int]:
        total = Counter(self.counts)
        for folder in self.folders:
            total.update(folder.counts)
        return dict(total)


def reference_batches(streams: list, count: int, *, seed: int = 0, epoch: int = 0, rank: int = 0, world: int = 1,
                      workers: int = 1, broken: frozenset[str] = frozenset()) -> Iterator[tuple[int, dict, dict, dict]]:
    """(worker, batches by stream, cursor, counters) of global batches 0 .. count-1."""
    per_worker = [[ReferenceStream(c, n, seed, epoch, rank, world, w, workers, broken) for n, c in enumerate(streams)]
                  for w in range(workers)]
    for g in range(count):
        worker = g % workers
        rng = np.random.default_rng([seed, epoch, rank, g])
        out = {}
        for stream in per_worker[worker]:
            config = stream.config
            tokenizer = with_max_length(TOKENIZER, config.max_length)
            out[config.name] = STREAM_KINDS[config.kind].collate(stream.items(rng), tokenizer, TOKENIZER)
        cursor = {s.config.name: [f.cursor() for f in s.folders] for s in per_worker[worker]}
        counters = {s.config.name: {k: v for k, v in s.counters().items() if v} for s in per_worker[worker]}
        yield worker, out, cursor, counters


def loader_batches(streams: list, count: int, workers: int, *, seed: int = 0, epoch: int = 0, rank: int = 0,
                   world: int = 1, start: TrainState | None = None) -> list:
    dataset = MixedStream(streams, TOKENIZER, seed=seed, rank=rank, world=world, batches_per_epoch=count)
    state = start or TrainState()
    dataset.begin_epoch(epoch, state.consumed, state.worker_states)
    return list(DataLoader(dataset, batch_size=None, num_workers=workers, generator=torch.Generator()))


def assert_same_batch(got, expected) -> None:
    assert type(got) is type(expected)
    for field in dataclasses.fields(expected):
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if torch.is_tensor(b):
            assert torch.equal(a, b), field.name
        else:
            assert a == b, field.name


def assert_matches_reference(batches: list, reference: list, first: int = 0) -> None:
    assert len(batches) == len(reference) - first
    for g, (batch, (worker, streams, cursor, counters)) in enumerate(zip(batches, reference[first:]), start=first):
        assert batch.meta.index == g and batch.meta.worker == worker
        assert list(batch.streams) == list(streams)
        for name, expected in streams.items():
            assert_same_batch(batch.streams[name], expected)
        assert batch.meta.cursor == cursor
        if not first:  # a resumed worker counts from its restart (the trainer's state adds the saved counts)
            assert {name: {k: v for k, v in c.items() if v} for name, c in batch.meta.counters.items()} == counters, g


def captions(toy, **extra) -> CaptionStreamConfig:
    options = dict(name="caption", folders=[toy["caption"]], batch_size=12, interleave=3,
                   image=ImageConfig(size=16, random_crop=True), variants={"caption": 0.5, "codeswitched": 0.5},
                   captions_per_image=2)
    return CaptionStreamConfig(**{**options, **extra})


def three_streams(toy) -> list:
    return [
        TextStreamConfig(name="text", folders=[toy["text/en"], toy["text/de"], toy["text/ja"]], batch_size=10, interleave=2),
        ParallelStreamConfig(name="pairs", folders=[toy["caption"]], batch_size=8, pair_languages=["de", "ja", "fr"],
                             language_alpha=0.5, max_length=10),
        captions(toy, batch_size=6, languages=["en", "de", "ja"], language_weights={"en": 0.6, "de": 0.3, "ja": 0.1},
                 captions_per_image=1, holdout=0.2),
        ParallelStreamConfig(name="parallel", folders=[toy["parallel"]], batch_size=5, resample=False, shuffle=False),
    ]


@pytest.mark.parametrize("workers", [0, 2])
def test_caption_batches_follow_the_reference_for_a_seed(toy, workers):
    streams = [captions(toy)]
    reference = list(reference_batches(streams, 9, seed=5, epoch=1, workers=max(1, workers)))
    assert_matches_reference(loader_batches(streams, 9, workers, seed=5, epoch=1), reference)


def test_unresampled_unshuffled_ranks_follow_the_reference(toy):
    streams = [captions(toy, resample=False, shuffle=False, interleave=2, holdout=0.2)]
    reference = list(reference_batches(streams, 8, seed=2, rank=1, world=2, workers=2))
    assert_matches_reference(loader_batches(streams, 8, 2, seed=2, rank=1, world=2), reference)


def test_several_streams_and_folders_follow_the_reference(toy):
    streams = three_streams(toy)
    reference = list(reference_batches(streams, 10, seed=9, workers=2))
    assert_matches_reference(loader_batches(streams, 10, 2, seed=9), reference)


@pytest.mark.parametrize("workers,stop", [(0, 5), (2, 3), (2, 6)])
def test_a_resumed_loader_continues_the_reference_from_the_saved_cursor(toy, workers, stop):
    streams = three_streams(toy)
    reference = list(reference_batches(streams, 11, seed=4, workers=max(1, workers)))
    state = TrainState()
    for batch in loader_batches(streams, 11, workers, seed=4)[:stop]:
        state.observe(batch.meta)
    assert_matches_reference(loader_batches(streams, 11, workers, seed=4, start=state), reference, first=stop)


def test_a_cursor_in_the_saved_form_resumes_the_reference(toy):
    """A checkpoint holds, per worker, stream and folder: the next shard number, the slot
    whose turn it is, and per slot its shard number and samples taken."""
    streams = [captions(toy, interleave=2)]
    reference = list(reference_batches(streams, 12, workers=1))
    _, _, cursor, _ = reference[6]
    assert set(cursor["caption"][0]) == {"next_seq", "turn", "slots"}
    state = TrainState(consumed=7, worker_states={0: cursor})
    assert_matches_reference(loader_batches(streams, 12, 0, start=state), reference, first=7)


def test_an_unresampled_epoch_covers_every_sample_once(toy):
    index = read_index(toy["caption"])
    workers, batch_size = 2, 20
    assert len(index.shards) % (2 * workers) == 0 and len({s.samples for s in index.shards}) == 1
    count = index.samples // batch_size
    stream = CaptionStreamConfig(name="caption", folders=[toy["caption"]], batch_size=batch_size, interleave=2,
                                 resample=False, image=ImageConfig(size=8))
    everything = sorted(s["__key__"] for shard in index.shards for s in tar_samples(os.path.join(toy["caption"], shard.name)))
    orders = []
    for epoch in (0, 1):
        keys = [k for b in loader_batches([stream], count, workers, epoch=epoch) for k in b.streams["caption"].keys]
        assert sorted(keys) == everything
        orders.append(keys)
    assert orders[0] != orders[1]


def test_a_broken_shard_costs_its_draw_and_the_reference_goes_on(toy, tmp_path):
    folder = str(tmp_path / "caption")
    shutil.copytree(toy["caption"], folder)
    broken = read_index(folder).shards[1]
    with open(os.path.join(folder, broken.name), "r+b") as handle:
        handle.write(os.urandom(broken.bytes))
    streams = [captions(toy, folders=[folder], interleave=2)]
    reference = list(reference_batches(streams, 10, seed=1, broken=frozenset({broken.name})))
    batches = loader_batches(streams, 10, 0, seed=1)
    assert batches[-1].meta.counters["caption"]["shard_errors"] >= 1
    assert_matches_reference(batches, reference)


def test_weighted_choices_draw_what_numpys_choice_draws():
    """A caption's language and variant are drawn as ``Generator.choice`` with ``p`` would:
    the same option and the generator left in the same state."""
    from babelshard.train.data.decode import choose

    draws = np.random.default_rng(11)
    for trial in range(300):
        size = int(draws.integers(2, 16))
        options = [f"l{i}" for i in range(size)]
        raw = draws.random(size) * (draws.random(size) < 0.8)  # some zero weights
        if trial % 50 == 0:
            raw[:] = 0.0  # no weight at all: a uniform draw
        weights = {o: float(w) for o, w in zip(options, raw)}
        ours, numpys = np.random.default_rng([trial, 1]), np.random.default_rng([trial, 1])
        for _ in range(20):
            p = np.asarray([weights[o] for o in options])
            expected = options[int(numpys.choice(size, p=p / p.sum()))] if p.sum() > 0 else options[int(numpys.integers(size))]
            assert choose(options, weights, ours) == expected
        assert ours.random() == numpys.random()
