from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.shards.writer import write_records

from babelshard.testing import caption_records

runner = CliRunner()


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("inspect", "publish", "config"):
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
