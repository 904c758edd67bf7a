"""The caption build in Beam against the loopback image server with ``output.shard_memory_bytes``
so small that samples are spilled: every output file is the default build's, the writer's
own count of held bytes stays within the budget, no spill file is left, and
``--retry-failed`` keeps its earlier samples through the same bounded path. The memory
budget is not in any config hash; ``output.max_shard_bytes`` is, once it is not the default."""
from __future__ import annotations

import os
from collections import Counter

from apache_beam.metrics.metric import MetricsFilter

from babelshard.configbase import parse_config
from babelshard.pipelines.captions.config import CaptionJobConfig, TableSource
from babelshard.pipelines.jobs.build import build_pipeline, caption_config_hash, caption_folder
from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.shards.index import read_index
from babelshard.testing import folder_digests

BUDGET = 8_000  # bytes: two or three of the test's 32 px samples (tar headers, image, json, caption)


def job(tmp_path, name: str, tsv, settings, memory_bytes: int | None = None, per_shard: int = 8) -> JobConfig:
    source = TableSource(name="cc3m", format="tsv", path=str(tsv), columns=["caption", "url"])
    output = {"folder": str(tmp_path / name), "samples_per_shard": per_shard}
    if memory_bytes is not None:
        output["shard_memory_bytes"] = memory_bytes
    return JobConfig(output=OutputConfig(**output), captions=CaptionJobConfig(sources=[source], download=settings))


def run(cfg: JobConfig, retry_failed: bool = False):
    result = build_pipeline(cfg, retry_failed=retry_failed).run()
    result.wait_until_finish()
    return result


def writer_metric(result, name: str, kind: str):
    found = result.metrics().query(MetricsFilter().with_namespace("write_shards").with_name(name))[kind]
    return found[0].committed


def spill_files(root) -> list[str]:
    return [name for _, _, names in os.walk(root) for name in names if ".spill." in name]


def write_images(tmp_path, image_server, paths: list[str]):
    tsv = tmp_path / "images.tsv"
    tsv.write_text("".join(f"picture {i}\t{image_server.url}{path}\n" for i, path in enumerate(paths)), encoding="utf-8")
    return tsv


def test_a_tiny_memory_budget_spills_and_writes_the_same_bytes(tmp_path, image_server, download_settings):
    paths = [f"/img/{i}.{ext}" for i in range(12) for ext in ("jpg", "png")] + ["/404"]
    tsv = write_images(tmp_path, image_server, paths)
    default = run(job(tmp_path, "default", tsv, download_settings))
    bounded_cfg = job(tmp_path, "bounded", tsv, download_settings, memory_bytes=BUDGET)
    bounded = run(bounded_cfg)
    assert folder_digests(str(tmp_path / "bounded")) == folder_digests(str(tmp_path / "default"))
    assert read_index(caption_folder(bounded_cfg)).samples == 24
    assert writer_metric(default, "samples_spilled", "counters") == 0
    assert writer_metric(bounded, "samples_spilled", "counters") > 0
    peak = writer_metric(bounded, "peak_held_bytes", "distributions")
    assert 0 < peak.max <= BUDGET
    assert writer_metric(default, "peak_held_bytes", "distributions").max > BUDGET
    assert spill_files(tmp_path) == []


def test_retry_failed_keeps_earlier_samples_through_the_spill(tmp_path, image_server, download_settings):
    paths = [f"/img/{i}.jpg" for i in range(8)] + ["/429-once/mem-a.jpg", "/429-once/mem-b.jpg", "/404"]
    tsv = write_images(tmp_path, image_server, paths)
    once = download_settings.model_copy(update={"retries": 0, "timeout": 5.0})  # no timeouts on a busy machine
    cfg = job(tmp_path, "out", tsv, once, memory_bytes=BUDGET, per_shard=11)
    run(cfg)
    assert read_index(caption_folder(cfg)).samples == 8
    before = Counter(image_server.hits)
    retried = run(cfg, retry_failed=True)
    assert {path for path in paths if image_server.hits[path] > before[path]} == {"/429-once/mem-a.jpg", "/429-once/mem-b.jpg"}
    assert writer_metric(retried, "samples_spilled", "counters") > 0
    assert writer_metric(retried, "peak_held_bytes", "distributions").max <= BUDGET
    clean = job(tmp_path, "clean", tsv, once, per_shard=11)  # the 429s answer with the image from now on
    run(clean)
    assert folder_digests(caption_folder(clean)) == folder_digests(caption_folder(cfg))
    assert spill_files(tmp_path) == []


def test_the_memory_budget_is_in_no_hash_and_the_byte_cap_only_off_its_default():
    def config(**output) -> JobConfig:
        return parse_config(JobConfig, {"output": {"folder": "out", **output}, "captions": {"sources": []}})

    plain = config()
    assert config(shard_memory_bytes=1).hash == plain.hash
    assert caption_config_hash(config(shard_memory_bytes=1)) == caption_config_hash(plain)
    assert caption_config_hash(config(max_shard_bytes=1 << 30)) == caption_config_hash(plain)
    assert caption_config_hash(config(max_shard_bytes=1 << 20)) != caption_config_hash(plain)


def test_a_killed_runs_spill_file_is_removed_with_its_other_leftovers(tmp_path):
    from babelshard.pipelines.jobs.lock import remove_leftovers
    from babelshard.shards.bucket import encode_sample
    from babelshard.shards.held import HeldSamples
    from babelshard.testing import caption_records

    sample = encode_sample(caption_records(1)[0])
    held = HeldSamples(str(tmp_path / "caption"), "shard-000000.tar", memory_bytes=0)
    held.add(sample.key, sample.members, sample.languages)  # and the process dies here: close() never runs
    assert os.path.exists(held.spill_path)
    assert remove_leftovers(str(tmp_path)) == [held.spill_path]
    os.close(held.spill_descriptor)
