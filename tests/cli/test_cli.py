from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.cli.backends import backend_message
from babelshard.shards.writer import ShardWriter, write_records
from babelshard.stats import Drop

from babelshard.testing import caption_records

runner = CliRunner()


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("inspect", "publish", "config", "report"):
        assert command in result.output
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_inspect_shows_counts_languages_and_samples(tmp_path):
    write_records(str(tmp_path / "caption"), "caption", caption_records(12), max_samples=5)
    result = runner.invoke(app, ["inspect", str(tmp_path), "--samples", "2", "--verify"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "caption" in result.output and "12" in result.output
    assert "de 12" in result.output and "en 12" in result.output
    assert "48x48 PNG" in result.output and "verified" in result.output


def test_inspect_of_an_unfinished_folder_is_a_clear_error(tmp_path):
    (tmp_path / "half").mkdir()
    result = runner.invoke(app, ["inspect", str(tmp_path / "half")])
    assert result.exit_code == 2
    assert "no index.json" in result.output


def test_config_show_resolves_defaults_and_names_bad_keys(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("output:\n  folder: out/x\n")
    result = runner.invoke(app, ["config", "show", str(good)])
    assert result.exit_code == 0, result.output
    assert '"samples_per_shard": 10000' in result.output and "config hash" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("output:\n  folder: out/x\n  sample_per_shard: 5\nbeam:\n  direct_running_mode: fast\n")
    result = runner.invoke(app, ["config", "show", str(bad)])
    assert result.exit_code == 2
    assert "output.sample_per_shard: unknown key" in result.output
    assert "beam.direct_running_mode" in result.output and "multi_processing" in result.output


def test_config_show_lists_the_checksums_of_the_models_and_dictionaries_it_uses(tmp_path):
    import hashlib
    import importlib.metadata

    lexicon = tmp_path / "lexicon.parquet"
    lexicon.write_bytes(b"not read, only hashed")
    config = tmp_path / "cs.yaml"
    config.write_text(f"output: {{folder: out}}\ncodeswitch:\n  lexicons: [{{format: cldr}}, {{path: {lexicon}}}]\n")
    result = runner.invoke(app, ["config", "show", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"artifact codeswitch.lexicons[0]: emoji=={importlib.metadata.version('emoji')}" in result.output
    digest = hashlib.sha256(lexicon.read_bytes()).hexdigest()
    assert f"artifact codeswitch.lexicons[1]: sha256:{digest}" in result.output


def test_publish_command(tmp_path):
    write_records(str(tmp_path / "src"), "caption", caption_records(4))
    result = subprocess.run([sys.executable, "-m", "babelshard.cli", "publish", str(tmp_path / "src"), str(tmp_path / "dst")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1 shard(s) uploaded" in result.stderr
    assert (tmp_path / "dst" / "index.json").exists()


def test_version():
    from babelshard import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"babelshard {__version__}"


CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_show_takes_every_config_in_configs(path):
    kind = "train" if path.name.startswith("train-") and path.name != "train-smalr-vocab.yaml" else (
        "vocab" if path.name.startswith("vocab-") or path.name == "train-smalr-vocab.yaml" else "job")
    result = runner.invoke(app, ["config", "show", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{path}: {kind} config" in result.output and "config hash" in result.output


def test_config_show_names_bad_keys_of_a_training_config(tmp_path):
    bad = tmp_path / "train.yaml"
    bad.write_text("data: {streams: []}\nobjectives: []\nloop: {output: x, epoks: 3}\n")
    result = runner.invoke(app, ["config", "show", str(bad)])
    assert result.exit_code == 2 and "loop.epoks: unknown key" in result.output


def test_inspect_json_and_drop_reasons(tmp_path):
    writer = ShardWriter(str(tmp_path / "caption"), stream="caption", max_samples=5)
    for record in caption_records(6):
        writer.write_record(record)
    for number in range(3):
        writer.write_drop(Drop(f"k{number}", "download", "not_found" if number else "timeout"))
    writer.close()
    result = runner.invoke(app, ["inspect", str(tmp_path), "--json", "-n", "1"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (folder,) = document["folders"]
    assert (folder["stream"], folder["samples"], folder["inputs"]) == ("caption", 6, 9)
    assert folder["drops"] == {"download/not_found": 2, "download/timeout": 1}
    assert folder["languages"] == {"de": 6, "en": 6} and folder["shown"][0]["png"] == "48x48 PNG"
    table = runner.invoke(app, ["inspect", str(tmp_path), "-n", "0"], env={"COLUMNS": "200"})
    assert "9 inputs, 6 samples, 3 dropped" in table.output
    assert "download/not_found" in table.output and "download/timeout" in table.output


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "babelshard.cli", *args], capture_output=True, text=True)


def test_a_path_without_its_storage_backend_is_one_line():
    unknown = run_cli("inspect", "nosuchproto://bucket/data")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: nosuchproto:// is not a storage protocol fsspec knows (known: file, memory, s3, gs, az, http, ...)"
    if importlib.util.find_spec("gcsfs") is None:
        missing = run_cli("inspect", "gs://bucket/data")
        assert missing.returncode == 2
        assert missing.stderr.strip() == "error: gs:// paths need the fsspec backend gcsfs: pip install gcsfs"


def test_beam_without_a_filesystem_for_a_scheme_is_named():
    from apache_beam.io.filesystems import FileSystems

    with pytest.raises(ValueError) as caught:
        FileSystems.match(["zz://bucket/part-*"])
    assert backend_message(caught.value) == "zz://bucket/part-*: Beam has no filesystem for zz://; install the Beam filesystem for its scheme"
