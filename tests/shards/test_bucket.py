"""write_shard, the plain function that writes one shard of a keyed folder: a write/read
round trip, drops in the failures parquet and the stats, and the complete-shard skip."""
from __future__ import annotations

import hashlib
import json
import os

from babelshard.records import CaptionSample, stable_key
from babelshard.shards.bucket import (
    EncodedSample, completed_shard, encode_sample, read_failures, remove_shards_outside, split_items,
    write_failures, write_shard,
)
from babelshard.shards.reader import iter_tar_samples
from babelshard.stats import Drop
from babelshard.testing import caption_records

RECORDS = caption_records(7)
DROPS = [
    Drop(stable_key("test", "gone"), "download", "not_found", "HTTP 404", "http://x/gone.jpg"),
    Drop(stable_key("test", "empty"), "clean", "empty_caption", "", "http://x/empty.jpg"),
]


def read_shard(folder: str, number: int) -> list[CaptionSample]:
    data = open(os.path.join(folder, f"shard-{number:06d}.tar"), "rb").read()
    return [CaptionSample.from_sample(sample) for sample in iter_tar_samples(data)]


def sha256(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_round_trip_sorted_by_key_with_the_shard_stats(tmp_path):
    folder = str(tmp_path)
    samples = [encode_sample(record) for record in reversed(RECORDS)]
    written = write_shard(folder, 3, 8, samples, [], "h1")
    assert not written.skipped
    back = read_shard(folder, 3)
    assert [r.key for r in back] == sorted(r.key for r in RECORDS)
    by_key = {r.key: r for r in RECORDS}
    assert all(r == by_key[r.key] for r in back)
    on_disk = json.load(open(os.path.join(folder, "shard-000003.stats.json")))
    assert on_disk == written.stats
    assert written.stats["samples"] == 7 and written.stats["num_shards"] == 8 and written.stats["config_hash"] == "h1"
    assert written.stats["sha256"] == sha256(os.path.join(folder, "shard-000003.tar"))
    assert written.stats["languages"] == {"de": 7, "en": 7}
    assert not os.path.exists(os.path.join(folder, "shard-000003.failures.parquet"))


def test_drops_go_to_the_failures_parquet_and_the_stats(tmp_path):
    folder = str(tmp_path)
    written = write_shard(folder, 0, 2, [encode_sample(RECORDS[0])], list(reversed(DROPS)), "h1")
    rows = read_failures(folder, 0)
    assert [row["key"] for row in rows] == sorted(d.key for d in DROPS)
    assert {(row["stage"], row["reason"], row["url"]) for row in rows} == {
        ("download", "not_found", "http://x/gone.jpg"), ("clean", "empty_caption", "http://x/empty.jpg"),
    }
    stats = written.stats["stats"]
    assert stats["inputs"] == 3 and stats["outputs"] == 1
    assert stats["drops"] == {"download/not_found": 1, "clean/empty_caption": 1}
    assert read_failures(folder, 1) == []


def test_a_shard_with_only_drops_has_no_tar_but_is_complete(tmp_path):
    folder = str(tmp_path / "new")
    written = write_shard(folder, 1, 4, [], DROPS, "h1")
    assert written.stats["samples"] == 0 and not os.path.exists(os.path.join(folder, "shard-000001.tar"))
    assert len(read_failures(folder, 1)) == 2
    assert completed_shard(folder, 1, 4, "h1") == written.stats


def test_a_complete_shard_is_skipped_unless_its_plan_or_samples_changed(tmp_path):
    folder = str(tmp_path)
    samples = [encode_sample(record) for record in RECORDS]
    first = write_shard(folder, 2, 5, samples, DROPS, "h1")
    tar = os.path.join(folder, "shard-000002.tar")
    mtime = os.stat(tar).st_mtime_ns

    again = write_shard(folder, 2, 5, samples, DROPS, "h1")
    assert again.skipped and again.stats == first.stats and os.stat(tar).st_mtime_ns == mtime

    fewer = write_shard(folder, 2, 5, samples[:-1], DROPS, "h1")
    assert not fewer.skipped and fewer.stats["samples"] == 6
    other_config = write_shard(folder, 2, 5, samples[:-1], DROPS, "h2")
    assert not other_config.skipped and other_config.stats["config_hash"] == "h2"

    with open(tar, "r+b") as handle:  # a tar that no longer matches its recorded sha256
        handle.seek(600)
        handle.write(b"x")
    assert completed_shard(folder, 2, 5, "h2") is None
    assert not write_shard(folder, 2, 5, samples[:-1], DROPS, "h2").skipped


def test_split_items_keeps_samples_and_drops_apart_in_order():
    samples = [encode_sample(record) for record in RECORDS[:3]]
    assert all(isinstance(sample, EncodedSample) for sample in samples)
    assert split_items([DROPS[0], samples[0], samples[1], DROPS[1], samples[2]]) == (samples, DROPS)


def test_a_complete_shard_with_other_drops_is_rewritten(tmp_path):
    """The same samples with a drop more (a rerun's pairs shard whose new record dropped
    in translation) rewrite the failures and stats; the tar's bytes stay the same."""
    folder = str(tmp_path)
    samples = [encode_sample(record) for record in RECORDS]
    first = write_shard(folder, 0, 1, samples, DROPS[:1], "h1")
    more = write_shard(folder, 0, 1, samples, DROPS, "h1")
    assert not more.skipped and more.stats["sha256"] == first.stats["sha256"]
    assert more.stats["stats"]["inputs"] == len(RECORDS) + 2 and len(read_failures(folder, 0)) == 2
    assert write_shard(folder, 0, 1, samples, DROPS, "h1").skipped


def test_the_index_step_removes_shard_files_of_another_plan(tmp_path):
    """A folder rewritten under a new plan (more shards, or fewer): the old plan's shard
    files that the new index does not list are removed, the new plan's kept."""
    from babelshard.shards.beam import FinishIndex

    folder = str(tmp_path)
    records = caption_records(8)
    for number in range(4):  # the old plan: four shards, two records each
        write_shard(folder, number, 4, [encode_sample(r) for r in records[2 * number:2 * number + 2]], [], "h")
    write_failures(folder, 3, [Drop(records[0].key, "download", "timeout")])
    new = write_shard(folder, 1, 2, [encode_sample(r) for r in records], [], "h")  # the new plan: shard 1 of 2
    (index,) = FinishIndex(folder, "caption", "h", None).process([new.stats], 2)
    assert [shard.name for shard in index.shards] == ["shard-000001.tar"]
    assert sorted(name for name in os.listdir(folder) if name.startswith("shard-")) == [
        "shard-000001.stats.json", "shard-000001.tar",
    ]
    assert remove_shards_outside(folder, {1}) == []
