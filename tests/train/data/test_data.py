"""Streaming datasets over shard folders: shard order, worker split, epoch budget,
corrupt shards and samples, and exact resumption at the loader level."""
from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from babelshard.records import CaptionSample, CaptionView
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records, iter_samples
from babelshard.shards.writer import write_records
from babelshard.train.loop.checkpoint import TrainState
from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig, ParallelStreamConfig
from babelshard.train.loop.metrics import batch_digest
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.shardstream import ShardSequence
from babelshard.train.data.tokenizer import HashTokenizer


def caption_stream(folder: str, **kwargs) -> CaptionStreamConfig:
    options = dict(name="caption", kind="caption", folders=[folder], batch_size=16, image=ImageConfig(size=24, random_crop=True))
    options.update(kwargs)
    return CaptionStreamConfig(**options)


def loader(dataset: MixedStream, workers: int):
    return DataLoader(dataset, batch_size=None, num_workers=workers, generator=torch.Generator())


def test_resampled_shard_order_is_seeded_per_worker(toy):
    index = read_index(toy["caption"])
    first = [ShardSequence(index, (0, 1, 0), True, 0, 2)[j].name for j in range(300)]
    again = [ShardSequence(index, (0, 1, 0), True, 0, 2)[j].name for j in range(300)]
    other_worker = [ShardSequence(index, (0, 1, 0), True, 1, 2)[j].name for j in range(300)]
    other_epoch = [ShardSequence(index, (0, 2, 0), True, 0, 2)[j].name for j in range(300)]
    assert first == again
    assert first != other_worker and first != other_epoch
    assert set(first) == {s.name for s in index.shards}  # 300 draws reach every shard


def test_unresampled_rounds_split_every_shard_once_across_workers(toy):
    index = read_index(toy["caption"])
    workers = 4
    per_worker = len(index.shards) // workers
    for round_number in range(3):
        seen = []
        for worker in range(workers):
            sequence = ShardSequence(index, (7, 0, 0), False, worker, workers)
            seen += [sequence[round_number * per_worker + j].name for j in range(per_worker)]
        assert sorted(seen) == sorted(s.name for s in index.shards)


def test_epoch_is_a_sample_budget_with_and_without_workers(toy):
    for workers in (0, 2):
        dataset = MixedStream([caption_stream(toy["caption"], batch_size=20)], HashTokenizer(), batches_per_epoch=7)
        batches = list(loader(dataset, workers))
        assert [b.meta.index for b in batches] == list(range(7))
        assert all(len(b.streams["caption"].keys) == 20 for b in batches)
    dataset = MixedStream([caption_stream(toy["caption"], batch_size=20)], HashTokenizer())
    assert dataset.batches_per_epoch == read_index(toy["caption"]).samples // 20


def test_corrupt_shard_is_skipped_and_counted(toy, tmp_path):
    folder = str(tmp_path / "caption")
    shutil.copytree(toy["caption"], folder)
    index = read_index(folder)
    broken = index.shards[2]
    broken_keys = {s["__key__"] for s in iter_samples(toy["caption"]) if s["__url__"].endswith(broken.name)}
    with open(os.path.join(folder, broken.name), "r+b") as handle:  # same size, garbage bytes
        handle.write(os.urandom(broken.bytes))
    dataset = MixedStream([caption_stream(folder, interleave=2, resample=False)], HashTokenizer(), batches_per_epoch=60)
    batches = list(loader(dataset, 0))
    keys = {k for b in batches for k in b.streams["caption"].keys}
    counters = batches[-1].meta.counters["caption"]
    assert counters["shard_errors"] >= 1
    assert not keys & broken_keys
    assert len(keys) == index.samples - broken.samples  # every other sample still arrives
    assert all(len(b.streams["caption"].keys) == 16 for b in batches)


def test_undecodable_sample_is_skipped_and_counted(toy, tmp_path):
    records = list(iter_records(toy["heldout"]))
    bad = dataclasses.replace(records[5], image=records[5].image[:40])  # a truncated PNG
    folder = str(tmp_path / "with-bad-image")
    write_records(folder, "caption", [*records[:5], bad, *records[6:]], max_samples=20)
    dataset = MixedStream([caption_stream(folder, batch_size=10, resample=False)], HashTokenizer(), batches_per_epoch=12)
    batches = list(loader(dataset, 0))
    keys = {k for b in batches for k in b.streams["caption"].keys}
    assert bad.key not in keys
    assert batches[-1].meta.counters["caption"]["decode_errors"] >= 1
    assert len(keys) == len(records) - 1


def run_digests(dataset: MixedStream, workers: int, start: TrainState | None = None, limit: int | None = None):
    state = start or TrainState()
    dataset.begin_epoch(0, state.consumed, state.worker_states)
    out = []
    for batch in loader(dataset, workers):
        state.observe(batch.meta, batch_digest(batch))
        out.append((batch_digest(batch), batch.streams["caption"].image))
        if limit is not None and len(out) == limit:
            break
    return out, state


@pytest.mark.parametrize("workers,stop", [(0, 4), (2, 5), (2, 6)])
def test_resumed_loader_yields_the_uninterrupted_batches(toy, workers, stop):
    def make():
        streams = [caption_stream(toy["caption"], variants={"caption": 0.5, "codeswitched": 0.5})]
        return MixedStream(streams, HashTokenizer(), seed=3, batches_per_epoch=11)

    full, _ = run_digests(make(), workers)
    head, state = run_digests(make(), workers, limit=stop)
    rest, _ = run_digests(make(), workers, start=state)
    assert [d for d, _ in head + rest] == [d for d, _ in full]
    for (_, resumed), (_, original) in zip(rest, full[stop:]):
        assert torch.equal(resumed, original)  # same crops too, not just the same keys


def test_records_round_trip_through_parallel_stream_from_captions(toy):
    names = {r.key: r.captions for r in iter_records(toy["caption"])}
    stream = ParallelStreamConfig(name="pairs", kind="parallel", folders=[toy["caption"]], batch_size=24, pair_languages=["de", "ja"])
    dataset = MixedStream([stream], HashTokenizer(), batches_per_epoch=3)
    from babelshard.train.data.pairs import decode_pair

    rng = np.random.default_rng(0)
    for raw in list(iter_samples(toy["caption"]))[:30]:
        item = decode_pair(CaptionView(raw), stream, None, rng)
        assert item.source_language == "en" and item.target_language in ("de", "ja")
        assert item.source_text == names[raw["__key__"]]["en"].text
        assert item.target_text == names[raw["__key__"]][item.target_language].text
    batch = next(iter(loader(dataset, 0))).streams["pairs"]
    assert set(batch.target_languages) <= {"de", "ja"} and batch.source_tokens.shape == (24, HashTokenizer().max_length)


def test_caption_samples_decode_to_normalized_images(toy):
    record = next(iter(iter_records(toy["caption"])))
    assert isinstance(record, CaptionSample) and len(record.captions) == 14
    dataset = MixedStream([caption_stream(toy["caption"], image=ImageConfig(size=24))], HashTokenizer(), batches_per_epoch=1)
    image = next(iter(loader(dataset, 0))).streams["caption"].image
    assert image.shape == (16, 3, 24, 24) and image.dtype == torch.float32
    assert -1.0 <= float(image.min()) < 0.0 < float(image.max()) <= 1.0


def test_fast_tar_scan_gives_the_shard_readers_samples(toy, tmp_path):
    import io
    import tarfile

    from babelshard.shards.reader import open_shard_bytes
    from babelshard.shards.tarscan import iter_tarfile_samples as iter_tar_samples
    from babelshard.shards.tarscan import scan_samples

    for folder in (toy["caption"], toy["parallel"]):
        for shard in read_index(folder).shards:
            data = open_shard_bytes(folder, shard, verify=True)
            assert scan_samples(data, where="w") == list(iter_tar_samples(data, where="w"))
    # a pax tar (long names, as other tools write) goes through tarfile and still works
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in ((f"{'d' * 120}/k1.txt", b"one"), (f"{'d' * 120}/k1.json", b"{}"), ("k2.txt", "zwei ä".encode())):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    pax = buffer.getvalue()
    assert scan_samples(pax) == list(iter_tar_samples(pax)) and len(scan_samples(pax)) == 2
    data = bytearray(open_shard_bytes(toy["caption"], read_index(toy["caption"]).shards[0], verify=False))
    data[600] ^= 0xFF  # inside the first member's content: fine; now break the second header's checksum
    first_size = int(bytes(data[124:136]).rstrip(b"\0 "), 8)
    data[512 + -(-first_size // 512) * 512 + 10] ^= 0xFF
    with pytest.raises(tarfile.ReadError, match="checksum"):
        scan_samples(bytes(data))
    with pytest.raises(tarfile.ReadError):
        scan_samples(b"")


def test_shard_folders_are_fsspec_urls(toy):
    import fsspec

    memory = fsspec.filesystem("memory")
    for name in os.listdir(toy["caption"]):
        with open(os.path.join(toy["caption"], name), "rb") as handle:
            memory.pipe(f"/toy-caption/{name}", handle.read())
    local = MixedStream([caption_stream(toy["caption"], resample=False)], HashTokenizer(), batches_per_epoch=5)
    remote = MixedStream([caption_stream("memory://toy-caption", resample=False)], HashTokenizer(), batches_per_epoch=5)
    assert [batch_digest(b) for b in loader(remote, 0)] == [batch_digest(b) for b in loader(local, 0)]


def test_epoch_budget_in_whole_optimizer_steps(toy):
    samples = read_index(toy["caption"]).samples
    accumulated = MixedStream([caption_stream(toy["caption"], batch_size=16)], HashTokenizer(), world=2, accum_steps=3)
    assert accumulated.batches_per_epoch == samples // (16 * 2 * 3) * 3
    budget = MixedStream([caption_stream(toy["caption"], batch_size=16, holdout=0.5)], HashTokenizer(), samples_per_epoch=100)
    assert budget.batches_per_epoch == 100 // 16  # the configured budget, not the index total less the holdout


def test_a_stream_kind_reads_only_the_shards_it_can_view(toy):
    from babelshard.configbase import ConfigError
    from babelshard.train.stream_config import TextStreamConfig

    with pytest.raises(ConfigError, match=f"data.streams.0.folders: {toy['caption']}: a text stream reads text shards, "
                                          "this folder holds caption shards"):
        MixedStream([TextStreamConfig(name="text", folders=[toy["caption"]], batch_size=4)], HashTokenizer())


def test_batches_move_every_tensor_and_keep_the_rest(toy):
    from babelshard.train.data.streams import STREAM_KINDS

    stream = ParallelStreamConfig(name="pairs", folders=[toy["caption"]], batch_size=4)
    streams = [caption_stream(toy["caption"], batch_size=4, teacher_tokens=True), stream]
    batch = next(iter(MixedStream(streams, HashTokenizer(), batches_per_epoch=1)))
    assert [type(b) for b in batch.streams.values()] == [STREAM_KINDS["caption"].batch, STREAM_KINDS["parallel"].batch]
    moved = batch.to("meta")  # a device without data: only tensors can go there
    caption, pairs = moved.streams["caption"], moved.streams["pairs"]
    assert caption.image.device.type == caption.tokens.device.type == caption.teacher_tokens.device.type == "meta"
    assert pairs.source_tokens.device.type == pairs.target_tokens.device.type == pairs.teacher_tokens.device.type == "meta"
    assert caption.keys == batch.streams["caption"].keys and caption.features is None and moved.meta == batch.meta
    assert batch.streams["caption"].image.device.type == "cpu"  # the original is unchanged


def test_a_folder_stream_holds_its_open_shards_once_and_one_read_ahead(tmp_path):
    """Memory stays within about (interleave + 2) shards while the stream reads its folder
    five times over: each open shard's bytes once (members are sliced when read, not
    copied), the next shard read ahead, and one being read."""
    import tracemalloc

    from babelshard.records import Caption
    from babelshard.train.data.shardstream import DataCounters, FolderStream

    rng = np.random.default_rng(0)
    records = [CaptionSample(key=f"k{i:03d}", source="test", url=f"u{i}", captions={"en": Caption(f"caption {i}")},
                             image=rng.bytes(40_000)) for i in range(120)]
    folder = str(tmp_path / "large-members")
    write_records(folder, "caption", records, max_samples=15)
    index = read_index(folder)
    largest = max(s.bytes for s in index.shards)
    interleave = 4
    stream = FolderStream(folder, ShardSequence(index, (0,), True, 0, 1), interleave=interleave, shuffle=True, verify=True,
                          counters=DataCounters(stream="caption"))
    tracemalloc.start()
    try:
        seen = [stream.next_raw()["jpg"][:4] for _ in range(5 * index.samples)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen) == 5 * index.samples and stream.cursor()["next_seq"] >= 5 * len(index.shards)
    assert peak < (interleave + 2.5) * largest, (peak, largest)
