"""Holding a shard's samples in bounded memory: past the budget, samples wait in a spill
file and are read back in key order. The tar is byte for byte the all-in-memory one, the
held bytes never pass the budget, the spill file is gone after success and failure, and
``max_bytes`` turns the samples past the cap into counted drops."""
from __future__ import annotations

import hashlib
import os
import random

import pytest

from babelshard.shards.bucket import EncodedSample, ShardLimits, encode_sample, read_failures, write_shard
from babelshard.shards.held import HeldSamples
from babelshard.shards.reader import iter_tar_samples
from babelshard.shards.tario import archive_size, encoded_size
from babelshard.shards.tarscan import stream_tar_samples, tar_keys
from babelshard.testing import caption_records

RECORDS = caption_records(24, image_bytes=3_000)


def arrival_order(seed: int) -> list[EncodedSample]:
    samples = [encode_sample(record) for record in RECORDS]
    random.Random(seed).shuffle(samples)
    return samples


def tar_bytes(folder: str, number: int = 0) -> bytes:
    return open(os.path.join(folder, f"shard-{number:06d}.tar"), "rb").read()


def leftovers(folder: str) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".") and name != ".commit.lock"]


@pytest.mark.parametrize("memory_bytes", [0, 20_000, 1 << 30])
def test_the_tar_is_the_in_memory_one_whatever_the_budget(tmp_path, memory_bytes):
    reference = write_shard(str(tmp_path / "reference"), 0, 1, arrival_order(1), [], "h")
    folder = str(tmp_path / "held")
    written = write_shard(folder, 0, 1, arrival_order(2), [], "h", limits=ShardLimits(memory_bytes=memory_bytes))
    assert tar_bytes(folder) == tar_bytes(str(tmp_path / "reference"))
    assert written.stats == reference.stats
    assert written.stats["sha256"] == hashlib.sha256(tar_bytes(folder)).hexdigest()
    assert written.peak_held_bytes <= memory_bytes
    sizes = [encoded_size(sample.members) for sample in arrival_order(2)]
    assert (written.spilled_samples > 0) == (memory_bytes < sum(sizes))
    assert leftovers(folder) == []


def test_held_bytes_never_pass_the_budget_and_the_rest_is_spilled(tmp_path):
    budget = 5 * encoded_size(encode_sample(RECORDS[0]).members)
    with HeldSamples(str(tmp_path), "shard-000000.tar", budget) as held:
        for sample in arrival_order(3):
            held.add(sample.key, sample.members, sample.languages)
            assert held.held_bytes <= budget
        assert held.peak_held_bytes <= budget and held.spilled_samples == len(RECORDS) - 5
        assert os.path.exists(held.spill_path) and os.path.getsize(held.spill_path) == held.spilled_bytes
        assert [sample.key for sample in held.in_key_order()] == sorted(record.key for record in RECORDS)
        spill_path = held.spill_path
    assert not os.path.exists(spill_path)


def failing_after(samples: list[EncodedSample], count: int):
    yield from samples[:count]
    raise RuntimeError("the download pool broke")


def test_no_spill_file_is_left_when_collecting_fails(tmp_path):
    folder = str(tmp_path)
    with pytest.raises(RuntimeError, match="pool broke"):
        write_shard(folder, 0, 1, failing_after(arrival_order(4), 10), [], "h", limits=ShardLimits(memory_bytes=0))
    assert leftovers(folder) == [] and not os.path.exists(os.path.join(folder, "shard-000000.tar"))


def test_no_spill_file_or_partial_tar_is_left_when_writing_fails(tmp_path):
    folder = str(tmp_path)
    samples = arrival_order(5)
    # a member name ustar cannot hold: refused while the tar is written, after the spill file filled
    samples.append(EncodedSample("z" * 120, [("z" * 120 + ".txt", b"x")], {"en": 1}))
    budget = 2 * encoded_size(samples[0].members) + 1_024
    with pytest.raises(ValueError, match="longer than 100 bytes"):
        write_shard(folder, 0, 1, samples, [], "h", limits=ShardLimits(memory_bytes=budget))
    assert leftovers(folder) == [] and not os.path.exists(os.path.join(folder, "shard-000000.tar"))


def test_samples_past_max_bytes_in_key_order_become_drops(tmp_path):
    folder = str(tmp_path)
    size = encoded_size(encode_sample(RECORDS[0]).members)
    cap = archive_size(10 * size)
    written = write_shard(folder, 0, 1, arrival_order(6), [], "h", limits=ShardLimits(memory_bytes=3 * size, max_bytes=cap))
    keys = sorted(record.key for record in RECORDS)
    assert [sample["__key__"] for sample in iter_tar_samples(tar_bytes(folder))] == keys[:10]
    assert len(tar_bytes(folder)) <= cap and written.stats["bytes"] == len(tar_bytes(folder))
    rows = read_failures(folder, 0)
    assert [row["key"] for row in rows] == keys[10:]
    assert {(row["stage"], row["reason"]) for row in rows} == {("shard", "over_max_bytes")}
    assert written.stats["stats"]["drops"] == {"shard/over_max_bytes": len(RECORDS) - 10}
    assert written.stats["stats"]["inputs"] == len(RECORDS)


def test_a_shard_keeps_its_first_sample_even_above_the_cap(tmp_path):
    written = write_shard(str(tmp_path), 0, 1, arrival_order(7), [], "h", limits=ShardLimits(max_bytes=1_024))
    assert written.stats["samples"] == 1 and written.stats["stats"]["drops"] == {"shard/over_max_bytes": len(RECORDS) - 1}


def test_streamed_samples_and_keys_match_the_scanner(tmp_path):
    folder = str(tmp_path)
    write_shard(folder, 0, 1, arrival_order(8), [], "h")
    path = os.path.join(folder, "shard-000000.tar")
    with open(path, "rb") as handle:
        streamed = list(stream_tar_samples(handle, "w"))
    assert streamed == list(iter_tar_samples(tar_bytes(folder), "w"))
    with open(path, "rb") as handle:
        assert tar_keys(handle) == [sample["__key__"] for sample in streamed]
