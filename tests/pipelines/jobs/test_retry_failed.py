"""``build_pipeline(..., retry_failed=True)`` in Beam against the loopback server: the
images that failed for a transient reason (here HTTP 429 with retries off) are fetched
again, nothing else is downloaded twice, and the index is rewritten last; with
translation pairs written too, ``parallel-mt`` ends holding the pairs of the samples."""
from __future__ import annotations

import hashlib
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest

from babelshard.testing import toy_translation

from babelshard.pipelines.captions.config import CaptionJobConfig, TableSource
from babelshard.pipelines.jobs.build import MT_PARALLEL_FOLDER, build_pipeline, caption_folder
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


MT_CAPTIONS = ("A red apple on a wooden table.", "Two dogs play in the park.", "A cat sleeping on a couch.",
               "A boat on a lake.", "A lost picture.")
MT_PATHS = ("/img/0.jpg", "/429-once/mt-a.jpg", "/img/1.png", "/429-once/mt-b.jpg", "/404")


@pytest.fixture(scope="module")
def toy_marian(tmp_path_factory):
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(tmp_path_factory.mktemp("toy-marian"))


def translated_job(tmp_path, server, download_settings, toy_marian, folder: str, paths=MT_PATHS) -> JobConfig:
    """Five captions translated to es and de, MT pairs written to ``parallel-mt``."""
    from babelshard.translate.config import TranslateConfig

    tsv = tmp_path / f"{folder}.tsv"
    tsv.write_text("".join(f"{text}\t{server.url}{path}\n" for text, path in zip(MT_CAPTIONS, paths)), encoding="utf-8")
    translate = TranslateConfig(**toy_translation(toy_marian.ctranslate2_dir))
    source = TableSource(name="cc", format="tsv", path=str(tsv), columns=["caption", "url"])
    captions = CaptionJobConfig(sources=[source], download=download_settings.model_copy(update={"retries": 0}))
    return JobConfig(output=OutputConfig(folder=str(tmp_path / folder), samples_per_shard=2), captions=captions,
                     translate=translate)


def pair_sample_keys(root: str) -> Counter:
    return Counter(pair.meta["sample_key"] for pair in iter_records(os.path.join(root, MT_PARALLEL_FOLDER)))


@pytest.mark.slow
def test_retry_failed_with_parallel_pairs_adds_the_pairs_of_the_retried_samples(
    tmp_path, image_server, download_settings, toy_marian
):
    """A host down on the first run (429 with retries off): the retry fetches only those
    images, and ``parallel-mt`` then holds exactly the pairs of the caption samples,
    as a build that met no failure writes them."""
    cfg = translated_job(tmp_path, image_server, download_settings, toy_marian, "out")
    folder, pairs = caption_folder(cfg), os.path.join(cfg.output.folder, MT_PARALLEL_FOLDER)

    run(cfg, retry_failed=False)
    assert read_index(folder).samples == 2
    assert read_index(pairs).languages == {"en-de": 2, "en-es": 2}

    before = Counter(image_server.hits)
    run(cfg, retry_failed=True)
    fetched = {path: image_server.hits[path] - before[path] for path in MT_PATHS}
    assert fetched == {path: int(path.startswith("/429-once/")) for path in MT_PATHS}
    samples = {record.key for record in iter_records(folder)}
    assert len(samples) == 4 and read_index(folder).samples == 4
    assert pair_sample_keys(cfg.output.folder) == Counter({key: 2 for key in samples})
    assert read_index(pairs).languages == {"en-de": 4, "en-es": 4}

    before = Counter(image_server.hits)
    run(cfg, retry_failed=True)  # nothing transient is left: nothing is fetched, nothing changes
    assert all(image_server.hits[path] == before[path] for path in MT_PATHS)
    assert pair_sample_keys(cfg.output.folder) == Counter({key: 2 for key in samples})

    # the same bytes as a build that met no failure (the 429s answer with the image from now on)
    clean = cfg.model_copy(update={"output": OutputConfig(folder=str(tmp_path / "clean"), samples_per_shard=2)})
    run(clean, retry_failed=False)
    assert folder_digests(caption_folder(clean)) == folder_digests(folder)
    assert folder_digests(os.path.join(clean.output.folder, MT_PARALLEL_FOLDER)) == folder_digests(pairs)
    assert read_index(pairs).shards == read_index(os.path.join(clean.output.folder, MT_PARALLEL_FOLDER)).shards
