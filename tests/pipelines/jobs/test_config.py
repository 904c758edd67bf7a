from __future__ import annotations

import pytest
from pydantic import ValidationError

from babelshard.pipelines.jobs.config import JobConfig, load_job_config
from babelshard.configbase import ConfigError, parse_config


def test_defaults_and_frozen():
    config = parse_config(JobConfig, {"output": {"folder": "out"}})
    assert config.output.samples_per_shard == 10_000 and config.beam.runner == "DirectRunner"
    with pytest.raises(ValidationError):
        config.output.folder = "elsewhere"


def test_errors_name_the_key_and_the_allowed_values():
    with pytest.raises(ConfigError) as error:
        parse_config(JobConfig, {"output": {"folder": "o", "samples_per_shard": 0}, "beam": {"direct_running_mode": "x"}, "extra": 1})
    text = str(error.value)
    assert "output.samples_per_shard" in text and "greater than or equal to 1" in text
    assert "beam.direct_running_mode" in text and "'multi_threading'" in text
    assert "extra: unknown key" in text


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_job_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("output: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_job_config(bad)


def test_hash_is_stable_and_changes_with_the_config():
    a = parse_config(JobConfig, {"output": {"folder": "out"}})
    b = parse_config(JobConfig, {"output": {"folder": "out"}})
    c = parse_config(JobConfig, {"output": {"folder": "out", "samples_per_shard": 5}})
    assert a.hash == b.hash != c.hash


def test_a_config_is_read_from_an_fsspec_url(tmp_path):
    import fsspec

    with fsspec.open("memory://configs/job.yaml", "w") as handle:
        handle.write("name: remote\noutput: {folder: gs://bucket/out}\n")
    assert load_job_config("memory://configs/job.yaml").output.folder == "gs://bucket/out"
    with pytest.raises(ConfigError, match="not found: memory://configs/none.yaml"):
        load_job_config("memory://configs/none.yaml")
