"""Local paths are refused, naming the key, when a runner puts workers on other machines."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.configbase import parse_config
from babelshard.pipelines.jobs.config import JobConfig, load_job_config
from babelshard.pipelines.jobs.remote import (
    RemoteRunnerError,
    check_job_paths,
    is_loopback_address,
    job_paths,
    remote_runner,
)

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def options(*flags: str) -> PipelineOptions:
    return PipelineOptions(list(flags))


@pytest.mark.parametrize("flags, expected", [
    ((), None),
    (("--runner=DirectRunner", "--direct_num_workers=2"), None),
    (("--runner=DataflowRunner", "--project=p", "--region=r"), "--runner=DataflowRunner"),
    (("--runner=apache_beam.runners.dataflow.dataflow_runner.DataflowRunner",), "--runner=DataflowRunner"),
    (("--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=EXTERNAL",
      "--environment_config=127.0.0.1:50000"), None),
    (("--runner=PortableRunner", "--job_endpoint=jobs.example.com:8099"),
     "--runner=PortableRunner with --job_endpoint=jobs.example.com:8099"),
    (("--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=EXTERNAL",
      "--environment_config=10.0.0.7:50000"), "--runner=PortableRunner with --environment_config=10.0.0.7:50000"),
    (("--runner=FlinkRunner",), None),  # [auto]: Beam starts Flink on this machine
    (("--runner=FlinkRunner", "--flink_master=flink-jm:8081"), "--runner=FlinkRunner with --flink_master=flink-jm:8081"),
    (("--runner=SparkRunner",), None),  # local[4]
    (("--runner=SparkRunner", "--spark_master_url=spark://master:7077"),
     "--runner=SparkRunner with --spark_master_url=spark://master:7077"),
])
def test_which_runners_put_workers_on_other_machines(flags, expected):
    assert remote_runner(options(*flags)) == expected


@pytest.mark.parametrize("address, loopback", [
    ("localhost:8099", True), ("127.0.0.1:1", True), ("[::1]:8099", True), ("spark://localhost:7077", True),
    ("local[*]", True), ("[local]", True), ("embed", True),
    ("localhost.example.com:8099", False), ("10.1.2.3:50000", False), ("spark://10.0.0.1:7077", False),
])
def test_loopback_addresses(address, loopback):
    assert is_loopback_address(address) is loopback


def full_config(root: str) -> JobConfig:
    return parse_config(JobConfig, {
        "output": {"folder": f"{root}/out"},
        "captions": {"sources": [
            {"name": "cc", "format": "tsv", "path": f"{root}/cc.tsv", "columns": ["caption", "url"]},
            {"name": "m30k", "format": "aligned", "path": f"{root}/images.txt", "image_root": f"{root}/images",
             "captions": {"en": f"{root}/en.txt", "de": f"{root}/de.txt"}},
        ]},
        "text": {"sources": [{"name": "de", "format": "cc100", "language": "de", "paths": [f"{root}/de.xz", f"{root}/de2.xz"]}]},
        "parallel": {"sources": [{"name": "po", "format": "po", "target_language": "fr", "paths": [f"{root}/fr.po"]}]},
        "translate": {"targets": {"es": "ap"}, "engines": {"ap": {"kind": "apertium"}}, "cache": {"url": f"{root}/cache"}},
    })


def test_job_paths_name_every_place_workers_read_or_write():
    keys = [key for key, _ in job_paths(full_config("/data"))]
    assert keys == [
        "output.folder", "captions.sources[0].path", "captions.sources[1].path", "captions.sources[1].image_root",
        "captions.sources[1].captions.de", "captions.sources[1].captions.en", "text.sources[0].paths[0]",
        "text.sources[0].paths[1]", "parallel.sources[0].paths[0]", "translate.cache.url",
    ]


def test_remote_urls_pass_and_each_local_path_is_named():
    dataflow = options("--runner=DataflowRunner", "--project=p", "--region=r")
    check_job_paths(full_config("gs://bucket"), dataflow)
    check_job_paths(full_config("/data"), options("--runner=DirectRunner"))
    cfg = full_config("gs://bucket")
    cfg = cfg.model_copy(update={"text": cfg.text.model_copy(update={"sources": [
        cfg.text.sources[0].model_copy(update={"paths": ["gs://bucket/de.xz", "file:///data/de2.xz"]})]})})
    with pytest.raises(RemoteRunnerError) as error:
        check_job_paths(cfg, dataflow)
    assert str(error.value) == ("text.sources[0].paths[1] is a local path (file:///data/de2.xz), which workers of "
                                "--runner=DataflowRunner cannot see: use a gs:// or s3:// URL")


def test_build_with_dataflow_and_a_local_output_exits_2_naming_the_key():
    result = runner.invoke(app, ["build", str(REPO / "configs" / "cc12m.yaml"), "--runner=DataflowRunner",
                                 "--project=p", "--region=r", "--temp_location=gs://b/tmp"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["error: output.folder is a local path (data/cc12m), which workers of --runner=DataflowRunner "
                     "cannot see: use a gs:// or s3:// URL"]


def test_translate_with_a_remote_flink_names_the_input_flag(tmp_path):
    result = runner.invoke(app, ["translate", str(REPO / "configs" / "translate-apertium.yaml"), "--input",
                                 str(tmp_path / "caption"), "--output", "s3://bucket/out",
                                 "--runner=FlinkRunner", "--flink_master=flink-jm:8081"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: --input is a local path ({tmp_path / 'caption'}), which workers of "
                                     "--runner=FlinkRunner with --flink_master=flink-jm:8081 cannot see: use a gs:// "
                                     "or s3:// URL")


def test_vocab_with_a_remote_spark_names_the_key(tmp_path):
    config = tmp_path / "vocab.yaml"
    config.write_text(yaml.safe_dump({
        "captions": ["gs://bucket/caption"], "text": [str(tmp_path / "text")], "output": "gs://bucket/vocab",
        "beam": {"runner": "SparkRunner", "options": {"spark_master_url": "spark://master:7077"}},
    }))
    result = runner.invoke(app, ["vocab", "build", str(config)])
    assert result.exit_code == 2
    assert f"error: text[0] is a local path ({tmp_path / 'text'})" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_demo_refuses_a_remote_runner_before_rendering(tmp_path):
    result = runner.invoke(app, ["demo", "--output", str(tmp_path / "demo"), "--count", "3",
                                 "--runner=PortableRunner", "--job_endpoint=jobs.example.com:8099"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: the demo serves its images from this machine's loopback (127.0.0.1), which workers of "
        "--runner=PortableRunner with --job_endpoint=jobs.example.com:8099 cannot reach: run it with the DirectRunner"
    )
    assert not (tmp_path / "demo").exists()


def test_shipped_cluster_configs_name_their_local_paths():
    """The example CC12M config writes to a local folder: fine locally, refused on Dataflow."""
    cfg = load_job_config(REPO / "configs" / "cc12m.yaml")
    check_job_paths(cfg, options())
    with pytest.raises(RemoteRunnerError, match="^output.folder is a local path"):
        check_job_paths(cfg, options("--runner=DataflowRunner"))
