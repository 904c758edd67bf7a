"""``build_pipeline(..., retry_failed=True)`` in Beam against the loopback server: the
images that failed for a transient reason (here HTTP 429 with retries off) are fetched
again, nothing else is downloaded twice, and the index is rewritten last."""
from __future__ import annotations

import hashlib
import os
from collections import Counter

import pyarrow.parquet as pq

from babelshard.pipelines.captions.config import CaptionJobConfig, TableSource
from babelshard.pipelines.jobs.build import build_pipeline, caption_folder
from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records

PATHS = ["/img/0.jpg", "/img/1.png", "/img/2.jpg", "/429-once/retry-a.jpg", "/429-once/retry-b.jpg", "/404"]


def folder_digests(folder: str) -> dict[str, str]:
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder)) if name.endswith((".tar", ".parquet", ".stats.json"))}


def failure_reasons(folder: str) -> Counter:
    reasons: Counter = Counter()
    for name in os.listdir(folder):
        if name.endswith(".failures.parquet"):
            reasons.update(row["reason"] for row in pq.read_table(os.path.join(folder, name)).to_pylist())
    return reasons


def run(cfg: JobConfig, retry_failed: bool) -> None:
    build_pipeline(cfg, retry_failed=retry_failed).run().wait_until_finish()


def test_retry_failed_fetches_only_the_transient_failures(tmp_path, image_server, download_settings):
    tsv = tmp_path / "images.tsv"
    tsv.write_text("".join(f"picture {i}\t{image_server.url}{path}\n" for i, path in enumerate(PATHS)), encoding="utf-8")
    source = TableSource(name="cc3m", format="tsv", path=str(tsv), columns=["caption", "url"])
    captions = CaptionJobConfig(sources=[source], download=download_settings.model_copy(update={"retries": 0}))
    cfg = JobConfig(output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=3), captions=captions)
    folder = caption_folder(cfg)

    run(cfg, retry_failed=False)
    assert read_index(folder).samples == 3
    assert failure_reasons(folder) == Counter({"rate_limited": 2, "not_found": 1})

    before = Counter(image_server.hits)
    run(cfg, retry_failed=True)
    fetched = {path: image_server.hits[path] - before[path] for path in PATHS}
    assert fetched == {path: int(path.startswith("/429-once/")) for path in PATHS}
    assert read_index(folder).samples == 5 and len(list(iter_records(folder))) == 5
    assert failure_reasons(folder) == Counter({"not_found": 1})

    before = Counter(image_server.hits)
    run(cfg, retry_failed=True)  # nothing transient is left: nothing is fetched
    assert all(image_server.hits[path] == before[path] for path in PATHS)

    # the same bytes as a build that met no failure (the 429s answer with the image from now on)
    clean = cfg.model_copy(update={"output": OutputConfig(folder=str(tmp_path / "clean"), samples_per_shard=3)})
    run(clean, retry_failed=False)
    assert folder_digests(caption_folder(clean)) == folder_digests(folder)
