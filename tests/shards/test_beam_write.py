from __future__ import annotations

import hashlib
import json
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.records import stable_key
from babelshard.shards.beam import WriteShards
from babelshard.shards.bucket import completed_shards, shard_of
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records, verify_folder
from babelshard.stats import Drop

from babelshard.testing import caption_records

RECORDS = caption_records(45)


def run_write(folder: str, with_drops: bool = True) -> None:
    drops = [Drop(stable_key("test", f"bad{i}"), "download", "http_404", "404 Not Found", f"http://x/bad{i}") for i in range(3)]
    with TestPipeline() as pipeline:
        numbers = pipeline | "Numbers" >> beam.Create(range(len(RECORDS)))
        samples = numbers | "ToRecords" >> beam.Map(lambda i: RECORDS[i])
        drop_pc = pipeline | "Drops" >> beam.Create(drops if with_drops else [])
        index = {"samples": samples, "drops": drop_pc} | WriteShards(folder, "caption", samples_per_shard=10, config_hash="h1")
        assert_that(index | beam.Map(lambda i: (i.samples, len(i.shards))), equal_to([(45, 5)]))


def digests(folder: str) -> dict[str, str]:
    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest() for n in sorted(os.listdir(folder)) if n.endswith(".tar")}


def test_write_shards_in_a_test_pipeline(tmp_path):
    folder = str(tmp_path / "out")
    run_write(folder)
    index = verify_folder(folder)
    assert index.samples == 45 and index.stream == "caption" and index.config_hash == "h1"
    assert sorted(r.key for r in iter_records(folder)) == sorted(r.key for r in RECORDS)
    for shard in index.shards:  # each shard holds exactly the keys hashed to it, sorted
        number = int(shard.name[6:12])
        keys = [r.key for r in iter_records(folder) if shard_of(r.key, 5) == number]
        assert len(keys) == shard.samples
    stats = json.load(open(os.path.join(folder, "stats.json")))
    assert stats["inputs"] == 48 and stats["outputs"] == 45 and stats["drops"] == {"download/http_404": 3}


def test_drops_land_in_the_failures_parquet_of_their_shard(tmp_path):
    import pyarrow.parquet as pq

    folder = str(tmp_path / "out")
    run_write(folder)
    rows = []
    for name in os.listdir(folder):
        if name.endswith(".failures.parquet"):
            rows += pq.read_table(os.path.join(folder, name)).to_pylist()
    assert sorted(r["url"] for r in rows) == [f"http://x/bad{i}" for i in range(3)]
    assert {r["reason"] for r in rows} == {"http_404"}


def test_rerun_gives_identical_bytes_and_skips_complete_shards(tmp_path):
    folder = str(tmp_path / "out")
    run_write(folder)
    first = digests(folder)
    mtimes = {n: os.stat(os.path.join(folder, n)).st_mtime_ns for n in first}
    assert completed_shards(folder, 5, "h1") == {0, 1, 2, 3, 4}
    os.remove(os.path.join(folder, "shard-000002.tar"))  # as if the first run died there
    os.remove(os.path.join(folder, "index.json"))
    run_write(folder)
    assert digests(folder) == first
    untouched = [n for n in first if n != "shard-000002.tar"]
    assert all(os.stat(os.path.join(folder, n)).st_mtime_ns == mtimes[n] for n in untouched)
    assert read_index(folder).samples == 45


def test_same_shards_as_a_fresh_folder(tmp_path):
    run_write(str(tmp_path / "a"))
    run_write(str(tmp_path / "b"))
    assert digests(str(tmp_path / "a")) == digests(str(tmp_path / "b"))


def test_changed_config_rewrites_instead_of_skipping(tmp_path):
    folder = str(tmp_path / "out")
    run_write(folder)
    assert completed_shards(folder, 5, "another-config") == set()
    assert completed_shards(folder, 6, "h1") == set()
