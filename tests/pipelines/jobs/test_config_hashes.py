"""The hashes that decide whether outputs are reusable change with the bytes of the
models the stages load, and stay what they were for a config that loads none."""
from __future__ import annotations

import shutil

from babelshard.configbase import config_hash, parse_config
from babelshard.pipelines.jobs.artifacts import artifact_checksums_under
from babelshard.pipelines.jobs.build import caption_config_hash
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.pipelines.jobs.text import stream_hash
from babelshard.pipelines.jobs.translate import translate_config_hash


def config(root, **sections) -> JobConfig:
    return parse_config(JobConfig, {"output": {"folder": str(root / "out")}, **sections})


def caption_config(root, model) -> JobConfig:
    return config(root, captions={"sources": [{"name": "s", "format": "jsonl", "path": "x.jsonl"}],
                                  "cleaning": {"language_check": {"model_path": str(model)}}})


def test_caption_hash_changes_with_the_language_id_model_bytes(tmp_path, lid_model_path):
    model = tmp_path / "lid.176.ftz"
    shutil.copy(lid_model_path, model)
    cfg = caption_config(tmp_path, model)
    before = caption_config_hash(cfg)
    assert caption_config_hash(cfg) == before
    model.write_bytes(b"a different model")
    assert caption_config_hash(cfg) != before


def test_translate_hash_changes_with_the_ctranslate2_model_bytes(tmp_path):
    model = tmp_path / "opus-mt"
    model.mkdir()
    (model / "model.bin").write_bytes(b"weights")
    cfg = config(tmp_path, translate={
        "targets": {"de": "marian"}, "engines": {"marian": {"kind": "ctranslate2", "model_path": str(model)}},
        "filters": {"language_id": False},
    })
    before_translate, before_caption = translate_config_hash(cfg, "in"), caption_config_hash(cfg)
    (model / "model.bin").write_bytes(b"retrained weights")
    assert translate_config_hash(cfg, "in") != before_translate
    assert caption_config_hash(cfg) != before_caption


def test_text_stream_hash_changes_with_its_language_id_model_only(tmp_path, lid_model_path):
    model = tmp_path / "lid.176.ftz"
    shutil.copy(lid_model_path, model)
    cfg = config(tmp_path, text={"sources": [{"name": "t", "format": "cc100", "language": "de", "paths": ["x"]}],
                                 "lid": {"model_path": str(model)}})
    artifacts = artifact_checksums_under(cfg, "text")
    assert list(artifacts) == ["text.lid.model_path"]
    assert artifact_checksums_under(cfg, "parallel") == {}
    before = stream_hash(cfg.text, artifacts)
    model.write_bytes(b"a different model")
    assert stream_hash(cfg.text, artifact_checksums_under(cfg, "text")) != before


def test_a_config_that_loads_no_model_keeps_its_hash(tmp_path):
    cfg = config(tmp_path, text={"sources": [{"name": "t", "format": "cc100", "language": "de", "paths": ["x"]}],
                                 "lid": {"enabled": False}})
    assert artifact_checksums_under(cfg, "text") == {}
    assert stream_hash(cfg.text, {}) == config_hash(cfg.text)


def test_declared_worker_processes_divide_the_host_limits_and_keep_the_caption_hash(tmp_path):
    """The per-host limits become job-wide: 100 processes share 8 requests at a time and
    10 requests a second to a host (each process 1 at a time, one start every 10 s); the
    shards' hash stays the one a config without the declaration has."""
    from babelshard.pipelines.captions.download import shared_limiter

    source = {"sources": [{"name": "s", "format": "jsonl", "path": "x.jsonl"}]}
    alone = config(tmp_path, captions=source)
    fleet = config(tmp_path, captions={**source, "download": {"worker_processes": 100}})
    assert caption_config_hash(fleet) == caption_config_hash(alone)
    assert fleet.hash != alone.hash  # the whole config (``config show``) still tells them apart

    one, many = shared_limiter(alone.captions.download), shared_limiter(fleet.captions.download)
    assert (one.concurrency, one.rate) == (8, 10.0)
    assert (many.concurrency, many.rate) == (1, 0.1)
    starts = [many.reserve_start("example.org", now=0.0) for _ in range(3)]
    assert starts == [0.0, 10.0, 20.0]
    assert [one.reserve_start("example.org", now=0.0) for _ in range(3)] == [0.0, 0.1, 0.2]

    four = config(tmp_path, captions={**source, "download": {"worker_processes": 4, "per_host_rate": 0}})
    four_limiter = shared_limiter(four.captions.download)
    assert (four_limiter.concurrency, four_limiter.rate) == (2, 0.0)  # 0 stays no limit
