"""Two attempts of one shard (a retried or speculative bundle) on one disk: each writes
its own temporary file, and the committed tar is always the one its stats describe."""
from __future__ import annotations

import hashlib
import json
import os
import threading

from babelshard.shards.bucket import commit_lock, commit_shard, encode_sample, write_shard
from babelshard.shards.writer import ShardFile
from babelshard.testing import caption_records


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_two_shard_files_of_one_name_write_separate_temporary_files(tmp_path):
    first, second = ShardFile(str(tmp_path), "shard-000000.tar"), ShardFile(str(tmp_path), "shard-000000.tar")
    assert first.temp_path != second.temp_path
    for record in caption_records(3):
        first.add(encode_sample(record).members)
    for record in caption_records(5, image_bytes=64):
        second.add(encode_sample(record).members)
    committed = first.commit()
    # the other attempt goes on writing after the first committed: the committed bytes stay
    second.add(encode_sample(caption_records(6, image_bytes=64)[5]).members)
    assert sha256(tmp_path / "shard-000000.tar") == committed.sha256 and committed.samples == 3
    later = second.commit()
    assert sha256(tmp_path / "shard-000000.tar") == later.sha256 and later.samples == 6
    assert sorted(os.listdir(tmp_path)) == ["shard-000000.tar"]


def test_an_attempt_that_finds_the_shard_committed_meanwhile_keeps_it(tmp_path):
    folder = str(tmp_path)
    ours = [encode_sample(record) for record in caption_records(4)]
    theirs = [encode_sample(record) for record in caption_records(4, image_bytes=32)]  # same keys, other bytes
    result = {}
    with commit_lock(folder):
        attempt = threading.Thread(target=lambda: result.update(written=write_shard(folder, 0, 1, ours, [], "h")))
        attempt.start()
        # the other attempt commits its tar and then its stats while ours waits for the lock
        shard = ShardFile(folder, "shard-000000.tar")
        for sample in theirs:
            shard.add(sample.members, sample.languages)
        committed = commit_shard(folder, 0, 1, shard.commit(), len(theirs), [], "h")
    attempt.join()
    stats = json.loads((tmp_path / "shard-000000.stats.json").read_text())
    assert result["written"].skipped and result["written"].stats["sha256"] == committed.stats["sha256"]
    assert stats["sha256"] == sha256(tmp_path / "shard-000000.tar") == committed.stats["sha256"]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]
