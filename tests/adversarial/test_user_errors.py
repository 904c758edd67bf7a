"""Mistakes a user can make on the command line: each is one line naming what to fix
or install, exit 2, no traceback, and nothing from the input runs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from babelshard.configbase import ConfigError, apply_overrides
from babelshard.shards.writer import write_records
from babelshard.testing import caption_records

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "babelshard.cli", *args], capture_output=True, text=True, timeout=300)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize(
    "override, message",
    [
        ("loop.output=!!python/object/apply:os.system ['touch {marker}']", "the value is not plain YAML"),
        ("data.streams.9.batch_size=8", "data.streams.9: a list of"),
        ("loop.output.deeper=1", "loop.output is a value, not a section"),
        ("no equals sign", "expected key.path=value"),
    ],
)
def test_a_bad_override_is_one_line_and_runs_nothing(tmp_path, override, message):
    marker = tmp_path / "ran"
    result = cli("train", str(ROOT / "configs" / "train-clip-en.yaml"), "-o", override.format(marker=marker))
    line = one_error_line(result)
    assert line.startswith("error: override ") and message in line, line
    assert not marker.exists()


def test_overrides_that_are_right_still_apply():
    data = {"loop": {"epochs": 1}, "streams": [{"batch_size": 4}]}
    assert apply_overrides(data, ["loop.epochs=3", "streams.0.batch_size=8", "new.key=[1, 2]"]) == {
        "loop": {"epochs": 3}, "streams": [{"batch_size": 8}], "new": {"key": [1, 2]},
    }
    with pytest.raises(ConfigError, match="not plain YAML"):
        apply_overrides({}, ["a=!!python/name:os.system"])  # any tag beyond safe YAML's


def gcsfs_installed() -> bool:
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def finished(tmp_path):
    write_records(str(tmp_path / "shards"), "caption", caption_records(3), max_samples=4)
    return str(tmp_path / "shards")


@pytest.mark.skipif(gcsfs_installed(), reason="gcsfs is installed: gs:// works here")
@pytest.mark.parametrize("command", ["inspect", "publish", "build-output", "build-source"])
def test_a_gs_url_without_gcsfs_says_what_to_install(tmp_path, finished, command):
    if command == "inspect":
        result = cli("inspect", "gs://some-bucket/shards")
    elif command == "publish":
        result = cli("publish", finished, "gs://some-bucket/shards")
    else:
        tsv = tmp_path / "c.tsv"
        tsv.write_text("a dog\thttp://x/1.jpg\n", encoding="utf-8")
        output = "gs://some-bucket/out" if command == "build-output" else str(tmp_path / "out")
        source = "gs://some-bucket/c.tsv" if command == "build-source" else str(tsv)
        config = {"output": {"folder": output},
                  "captions": {"sources": [{"name": "c", "format": "tsv", "path": source, "columns": ["caption", "url"]}]}}
        (tmp_path / "job.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        result = cli("build", str(tmp_path / "job.yaml"))
    line = one_error_line(result)
    assert "gs:// paths need the fsspec backend gcsfs: pip install gcsfs" in line, line


@pytest.mark.parametrize("url", ["nosuchprotocol://bucket/shards", "hdfs://namenode/shards"])
def test_an_unknown_or_unusable_protocol_is_one_line(url):
    line = one_error_line(cli("inspect", url))
    assert line.startswith(f"error: {url}: "), line


def test_a_job_config_with_a_python_tag_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    config = tmp_path / "job.yaml"
    config.write_text(f"output: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    line = one_error_line(cli("build", str(config)))
    assert "not valid YAML" in line and not marker.exists()
