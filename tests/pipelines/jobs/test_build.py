"""The caption stream end to end in Beam against the loopback server: exact drop reasons
per key in stats and failures parquet, inputs = samples + drops, incremental reruns,
and identical shards under the multi-processing DirectRunner."""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.pipelines.jobs.build import add_caption_stream, caption_folder
from babelshard.pipelines.captions.config import CaptionJobConfig, TableSource
from babelshard.pipelines.jobs.reasons import uncatalogued
from babelshard.pipelines.jobs.run import run_job
from babelshard.records import stable_key
from babelshard.shards.bucket import shard_of
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records, verify_folder

SUCCESS = ["/img/0.jpg", "/img/1.png", "/img/2.jpg", "/img/3.png", "/redirect/ok", "/429-once/build.jpg"]
FAILURES = {
    "/404": "download/not_found",
    "/500": "download/http_server_error",
    "/429-always": "download/rate_limited",
    "/slow.jpg": "download/timeout",
    "/html": "download/not_an_image",
    "/truncated.jpg": "download/truncated_image",
    "/big.jpg": "download/too_large",
    "/bomb.png": "download/decompression_bomb",
    "/redirect/private": "download/blocked_address",
    "ftp://127.0.0.1/a.jpg": "download/unsupported_scheme",
}


def url_of(server, path: str) -> str:
    return path if "://" in path else server.url + path


def write_tsv(path, rows: list[tuple[str, str]], extra_lines=()) -> None:
    lines = [f"{caption}\t{url}" for caption, url in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def job(tmp_path, sources, download, samples_per_shard=4) -> JobConfig:
    captions = CaptionJobConfig(sources=sources, download=download)
    return JobConfig(output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=samples_per_shard), captions=captions)


def cc3m_source(path) -> TableSource:
    return TableSource(name="cc3m", format="tsv", path=str(path), columns=["caption", "url"])


def failure_rows(folder: str) -> list[dict]:
    rows = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".failures.parquet"):
            rows += pq.read_table(os.path.join(folder, name)).to_pylist()
    return rows


def test_every_input_ends_as_a_sample_or_a_drop_with_its_exact_reason(tmp_path, image_server, download_settings):
    rows = [(f"picture number {i}", url_of(image_server, path)) for i, path in enumerate(SUCCESS)]
    rows += [(f"broken thing {path}", url_of(image_server, path)) for path in FAILURES]
    duplicates = [rows[0], (" picture   number 0 ", rows[0][1]), ("another caption", rows[1][1])]
    odd = [("\u200b\u200b", image_server.url + "/img/5.jpg"), ("x" * 2000, image_server.url + "/img/6.jpg")]
    tsv = tmp_path / "cc3m.tsv"
    write_tsv(tsv, rows + duplicates + odd, extra_lines=["only one field", "\t" + image_server.url + "/img/7.jpg"])
    cfg = job(tmp_path, [cc3m_source(tsv)], download_settings)
    with TestPipeline() as pipeline:
        add_caption_stream(pipeline, cfg)

    folder = caption_folder(cfg)
    index = verify_folder(folder)
    samples = list(iter_records(folder))
    expected_keys = {stable_key("cc3m", url_of(image_server, path)) for path in SUCCESS}
    assert {record.key for record in samples} == expected_keys
    assert all(record.image and record.meta["width"] == 32 for record in samples)

    by_key = {row["key"]: row["stage"] + "/" + row["reason"] for row in failure_rows(folder)}
    for path, reason in FAILURES.items():
        assert by_key[stable_key("cc3m", url_of(image_server, path))] == reason, path
    stats = json.load(open(os.path.join(folder, "stats.json")))
    expected_drops = Counter(FAILURES.values())
    expected_drops.update({
        "dedup/duplicate_pair": 2,  # the same row twice, and the same caption after whitespace cleanup
        "dedup/duplicate_url": 1,
        "clean/empty": 1,
        "clean/too_long": 1,
        "read/malformed_row": 1,
        "read/missing_caption": 1,
    })
    assert stats["drops"] == dict(expected_drops)
    assert uncatalogued(stats["drops"]) == []
    total_inputs = len(rows) + len(duplicates) + len(odd) + 2
    assert stats["inputs"] == total_inputs == index.samples + stats["dropped"]
    assert index.samples == len(SUCCESS)
    assert len(failure_rows(folder)) == stats["dropped"]


def shard_digests(folder: str) -> dict[str, str]:
    return {
        name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(folder))
        if name.endswith(".tar")
    }


@pytest.fixture
def twelve_images(tmp_path, image_server):
    tsv = tmp_path / "images.tsv"
    paths = [f"/img/{i}.jpg" for i in range(12)] + ["/404"]
    write_tsv(tsv, [(f"emoji picture {i}", image_server.url + path) for i, path in enumerate(paths)])
    return tsv, paths


def test_rerun_downloads_only_shards_that_are_not_complete(tmp_path, image_server, download_settings, twelve_images):
    tsv, paths = twelve_images
    cfg = job(tmp_path, [cc3m_source(tsv)], download_settings, samples_per_shard=4)
    before = Counter(image_server.hits)
    run_job(cfg)
    folder = caption_folder(cfg)
    first = shard_digests(folder)
    assert read_index(folder).samples == 12 and len(first) >= 2
    assert all(image_server.hits[p] - before[p] == 1 for p in paths)

    before = Counter(image_server.hits)
    run_job(cfg)
    assert all(image_server.hits[p] == before[p] for p in paths), "a complete run fetched again"
    assert shard_digests(folder) == first

    victim = sorted(first)[0]
    os.remove(os.path.join(folder, victim))
    num_shards = json.load(open(os.path.join(folder, victim.replace(".tar", ".stats.json"))))["num_shards"]
    keys = {stable_key("cc3m", image_server.url + p): p for p in paths}
    victim_keys = {key for key in keys if shard_of(key, num_shards) == int(victim[6:12])}
    before = Counter(image_server.hits)
    run_job(cfg)
    fetched = {key for key, p in keys.items() if image_server.hits[p] > before[p]}
    assert fetched == victim_keys
    assert shard_digests(folder) == first
    assert read_index(folder).samples == 12


@pytest.mark.slow
def test_multi_processing_gives_the_same_shards(tmp_path, image_server, download_settings, twelve_images):
    tsv, _ = twelve_images
    default = job(tmp_path / "a", [cc3m_source(tsv)], download_settings)
    parallel = job(tmp_path / "b", [cc3m_source(tsv)], download_settings)
    run_job(default)
    run_job(parallel, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    a, b = caption_folder(default), caption_folder(parallel)
    assert shard_digests(a) == shard_digests(b) and len(shard_digests(a)) >= 2
    assert read_index(a).as_json() == read_index(b).as_json()
    assert json.load(open(os.path.join(a, "stats.json"))) == json.load(open(os.path.join(b, "stats.json")))


def test_a_run_where_every_image_fails_still_accounts_for_everything(tmp_path, image_server, download_settings):
    tsv = tmp_path / "gone.tsv"
    write_tsv(tsv, [(f"gone picture {i}", f"{image_server.url}/404?{i}") for i in range(5)])
    cfg = job(tmp_path, [cc3m_source(tsv)], download_settings, samples_per_shard=2)
    run_job(cfg)
    folder = caption_folder(cfg)
    assert read_index(folder).samples == 0
    stats = json.load(open(os.path.join(folder, "stats.json")))
    assert stats["inputs"] == 5 and stats["drops"] == {"download/not_found": 5}
    assert len(failure_rows(folder)) == 5
