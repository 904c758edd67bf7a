"""``babelshard features`` shard to shard, and the model stages inside the caption build
(the demo): byte-identical reruns, resumption per shard, the CLIP-score histogram in the
stats, inputs = samples + drops, one-line errors."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.pipelines.jobs.features import run_features
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records
from babelshard.shards.report_data import gather
from babelshard.testing import folder_digests

runner = CliRunner()


def features_job(output: str, checkpoints: dict, **features) -> JobConfig:
    section = {"clip": {"checkpoint": checkpoints["clip"]}, "clip_score": {"keep_fraction": {"en": 0.5}},
               "grid": {"checkpoint": checkpoints["clip"], "classes": ["red", "yellow", "blue"]}, "batch_size": 4, **features}
    return JobConfig.model_validate({"name": "features-test", "output": {"folder": output}, "features": section})


def test_reruns_give_the_same_bytes_and_resume_shard_by_shard(caption_shards, checkpoints, tmp_path):
    first = run_features(features_job(str(tmp_path / "a"), checkpoints), caption_shards)
    assert first.skipped == 0
    folder = str(tmp_path / "a" / "caption")
    index = read_index(folder)
    assert index.extra["features_from"] == caption_shards and len(read_index(caption_shards).shards) == 3
    records = list(iter_records(folder))
    assert {"clip_image", "clip_text_en", "regions", "regions_box", "regions_cls"} <= set(records[0].features)
    stats = json.load(open(os.path.join(folder, "stats.json")))
    assert stats["inputs"] == 42 == stats["outputs"] + stats["dropped"] and stats["outputs"] == len(records)
    assert stats["drops"]["features/clip_score"] > 0

    second = run_features(features_job(str(tmp_path / "b"), checkpoints), caption_shards)
    assert second.skipped == 0 and folder_digests(str(tmp_path / "b")) == folder_digests(str(tmp_path / "a"))

    before = folder_digests(str(tmp_path / "a"))
    for name in ("shard-000001.tar", "shard-000001.stats.json", "index.json"):
        os.remove(os.path.join(folder, name))  # a run killed while writing shard 1
    resumed = run_features(features_job(str(tmp_path / "a"), checkpoints), caption_shards)
    assert resumed.skipped == 2 and folder_digests(str(tmp_path / "a")) == before

    changed = run_features(features_job(str(tmp_path / "a"), checkpoints, dtype="float32"), caption_shards)
    assert changed.skipped == 0  # another config: every shard again


def write_config(path, data: dict) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_the_command_reports_the_histogram_and_user_errors_in_one_line(caption_shards, checkpoints, tmp_path):
    section = {"clip_score": {"checkpoint": checkpoints["clip"], "threshold": {"en": 0.0}}}
    config = write_config(tmp_path / "job.yaml", {"output": {"folder": str(tmp_path / "out")}, "features": section})
    result = runner.invoke(app, ["features", config, "--input", caption_shards])
    assert result.exit_code == 0, result.output
    assert "inputs 42 = samples" in result.output and "clip score histogram (en):" in result.output
    assert "features/no_image: 1" in result.output and "skipped 0 complete shard(s)" in result.output
    caption = gather(str(tmp_path / "out")).folders[0]  # babelshard report draws the scores the stage wrote
    assert len(caption.clip_scores) == caption.sampled > 0 and min(caption.clip_scores) >= 0.0

    cases = {
        "no features": ({"output": {"folder": str(tmp_path / "x")}}, ["--input", caption_shards],
                        "the config has no `features` section"),
        "overwrite": ({"output": {"folder": os.path.dirname(caption_shards)}, "features": section},
                      ["--input", caption_shards], "would overwrite the input"),
        "too long": ({"output": {"folder": str(tmp_path / "y")},
                      "features": {"clip": {"checkpoint": checkpoints["clip"], "max_length": 77}}},
                     ["--input", caption_shards], "features.clip.max_length 77 exceeds the 32 text positions"),
        "no input": ({"output": {"folder": str(tmp_path / "z")}, "features": section}, [],
                     "no input: set features.input_folder or pass --input"),
        "unfinished": ({"output": {"folder": str(tmp_path / "w")}, "features": section},
                       ["--input", str(tmp_path / "missing")], "no such shard folder"),
    }
    for name, (data, args, message) in cases.items():
        result = runner.invoke(app, ["features", write_config(tmp_path / f"{name}.yaml", data), *args])
        assert result.exit_code == 2, (name, result.output)
        assert message in result.output and len(result.output.strip().splitlines()) == 1, (name, result.output)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_with_features(root: str, checkpoints: dict, port: int):
    from babelshard.pipelines.demo.job import default_demo_config

    cfg = default_demo_config(root)
    features = {"clip": {"checkpoint": checkpoints["clip"], "pooled": True},
                "clip_score": {"threshold": {"en": 0.1}}, "batch_size": 8}
    return cfg.model_copy(update={
        "output": cfg.output.model_copy(update={"samples_per_shard": 8}),
        "demo": cfg.demo.model_copy(update={"emoji_count": 24, "translate": False, "port": port}),
        "features": JobConfig.model_validate({"output": {"folder": root}, "features": features}).features,
    })


def test_the_model_stages_in_the_demo_build_score_filter_and_rerun_byte_identical(checkpoints, tmp_path):
    from babelshard.pipelines.demo.job import run_demo
    from babelshard.pipelines.features.score import histogram

    config = demo_with_features(str(tmp_path / "demo"), checkpoints, free_port())  # URLs (in the json) name the port
    run_demo(config, echo=lambda line: None)
    folder = str(tmp_path / "demo" / "caption")
    stats = json.load(open(os.path.join(folder, "stats.json")))
    scored = histogram(stats["counters"], "en")
    assert sum(count for _, count in scored) == stats["inputs"] - sum(
        count for reason, count in stats["drops"].items() if not reason.startswith("features/"))
    kept_by_histogram = sum(count for edge, count in scored if edge >= 0.1)
    assert stats["outputs"] == kept_by_histogram == len(list(iter_records(folder)))  # 0.1 is a bin edge
    assert stats["inputs"] == stats["outputs"] + stats["dropped"]
    for record in iter_records(folder):
        assert record.meta["clip_score"]["scores"]["en"] >= 0.1
        assert record.features["clip_image_pooled"].shape == (32,) and str(record.features["clip_image"].dtype) == "float16"

    first = folder_digests(folder)
    shutil.rmtree(folder)
    run_demo(config, echo=lambda line: None)
    assert folder_digests(folder) == first


def test_config_show_names_the_checksum_the_samples_record(checkpoints, tmp_path):
    from babelshard.checkpoints import weights_checksum
    from babelshard.pipelines.jobs.artifacts import artifact_checksums

    cfg = features_job(str(tmp_path), checkpoints, sentence={"checkpoint": str(tmp_path / "missing")})
    checksums = artifact_checksums(cfg)
    assert checksums["features.clip.checkpoint"] == "sha256:" + weights_checksum(checkpoints["clip"])
    assert checksums["features.grid.checkpoint"] == checksums["features.clip.checkpoint"]
    assert checksums["features.sentence.checkpoint"] == "absent" and "features.clip_score.checkpoint" not in checksums
