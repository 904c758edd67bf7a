"""Attempts of one shard on an object store (moto's S3 server): no lock holds the tar,
failures and stats together, so each attempt reads them back and puts its own again
until they are one attempt's; the index takes the stats the store holds."""
from __future__ import annotations

import functools
import hashlib

import fsspec

from babelshard.shards.beam import FinishIndex
from babelshard.shards.bucket import (
    consistent_stored_shard, encode_sample, hold_samples, input_keys, read_failures, settle_on_store, write_attempt,
    write_failures, write_shard,
)
from babelshard.shards.held import DEFAULT_MEMORY_BYTES
from babelshard.shards.writer import ShardFile
from babelshard.stats import Drop
from babelshard.testing import caption_records

RECORDS = caption_records(5)
OTHER_BYTES = caption_records(5, image_bytes=48)  # the same keys, other images


def stored_bytes(url: str) -> bytes:
    with fsspec.open(url, "rb") as handle:
        return handle.read()


def timeout(record) -> Drop:
    return Drop(record.key, "download", "timeout", "no answer", record.url)


def attempt_of(records, dropped: int):
    """An attempt's samples and drops: every record but ``dropped``, which timed out."""
    samples = [encode_sample(record) for n, record in enumerate(records) if n != dropped]
    return samples, [timeout(records[dropped])]


def one_attempt(folder: str, samples, drops, keep_complete: bool):
    """One attempt's commit of shard 0 of 1 from ``samples`` and ``drops``."""
    with hold_samples(folder, 0, samples, DEFAULT_MEMORY_BYTES) as held:
        return write_attempt(folder, 0, 1, held, held.in_key_order(), drops, "h", keep_complete=keep_complete)


def test_attempts_with_the_same_samples_put_identical_bytes(s3):
    folder = f"{s3}/same/caption"
    samples, drops = attempt_of(RECORDS, 0)
    first = write_shard(folder, 0, 1, samples, drops, "h")
    tar, stats = stored_bytes(f"{folder}/shard-000000.tar"), stored_bytes(f"{folder}/shard-000000.stats.json")
    again = one_attempt(folder, samples, drops, keep_complete=False)  # a concurrent attempt's puts
    assert not again.skipped and again.stats == first.stats
    assert stored_bytes(f"{folder}/shard-000000.tar") == tar and hashlib.sha256(tar).hexdigest() == first.stats["sha256"]
    assert stored_bytes(f"{folder}/shard-000000.stats.json") == stats


def test_an_attempt_whose_puts_another_attempt_overwrote_puts_its_own_again(s3):
    """Ours timed out on record 0, theirs on record 1 (other bytes too): their tar and
    failures land after our stats, leaving a tar our stats do not describe."""
    folder = f"{s3}/race/caption"
    ours, our_drops = attempt_of(RECORDS, 0)
    theirs, their_drops = attempt_of(OTHER_BYTES, 1)
    interleaved = []

    def our_attempt(keep_complete: bool):
        written = one_attempt(folder, ours, our_drops, keep_complete)
        if not interleaved:  # their puts land between our stats and our read-back
            shard = ShardFile(folder, "shard-000000.tar")
            for sample in sorted(theirs, key=lambda sample: sample.key):
                shard.add(sample.members, sample.languages)
            interleaved.append(shard.commit())
            write_failures(folder, 0, their_drops)
            assert consistent_stored_shard(folder, 0, input_keys(ours, our_drops)) is None
        return written

    written = settle_on_store(folder, 0, our_attempt, input_keys(ours, our_drops))
    assert interleaved and interleaved[0].sha256 != written.stats["sha256"]
    stored = consistent_stored_shard(folder, 0, input_keys(ours, our_drops))
    assert stored == written.stats and not written.skipped
    assert hashlib.sha256(stored_bytes(f"{folder}/shard-000000.tar")).hexdigest() == written.stats["sha256"]
    assert [row["key"] for row in read_failures(folder, 0)] == [RECORDS[0].key]


def test_the_same_drop_counts_with_other_keys_are_not_consistent(s3):
    """Their tar and stats with our failures: one timeout each, but not the same record."""
    folder = f"{s3}/swapped/caption"
    ours, our_drops = attempt_of(RECORDS, 0)
    theirs, their_drops = attempt_of(RECORDS, 1)
    write_shard(folder, 0, 1, theirs, their_drops, "h")
    assert consistent_stored_shard(folder, 0, input_keys(theirs, their_drops)) is not None
    write_failures(folder, 0, our_drops)
    assert consistent_stored_shard(folder, 0, input_keys(theirs, their_drops)) is None


def test_the_index_takes_the_stats_the_store_holds(s3):
    """The output Beam kept may be an attempt whose shard another attempt replaced."""
    folder = f"{s3}/index/caption"
    ours, our_drops = attempt_of(RECORDS, 0)
    theirs, their_drops = attempt_of(OTHER_BYTES, 1)
    kept_by_beam = write_shard(folder, 0, 1, ours, our_drops, "h").stats
    # theirs started before ours was complete: it puts its files whatever it finds
    their_attempt = functools.partial(one_attempt, folder, theirs, their_drops, False)
    settled = settle_on_store(folder, 0, lambda keep_complete: their_attempt(), input_keys(theirs, their_drops))
    assert settled.stats["sha256"] != kept_by_beam["sha256"]
    (index,) = FinishIndex(folder, "caption", "h", None).process([kept_by_beam], 1)
    assert [(shard.name, shard.sha256) for shard in index.shards] == [("shard-000000.tar", settled.stats["sha256"])]
