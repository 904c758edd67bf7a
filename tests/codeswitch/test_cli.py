"""`babelshard lexicon import` and `stats` from the command line."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.codeswitch.lexfile import read_lexicon

runner = CliRunner()


def test_import_freedict_and_muse_then_stats(tmp_path, eng_fra, fra_pairs):
    out = tmp_path / "fra.parquet"
    result = runner.invoke(app, ["lexicon", "import", "--format", "freedict", eng_fra, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert read_lexicon(str(out)).num_rows == len(fra_pairs)
    assert "freedict:eng-fra" in result.output and "skipped:" in result.output
    muse = tmp_path / "en-fr.txt"
    muse.write_text("dog chien\ncat chat\nbroken line here\n", encoding="utf-8")
    result = runner.invoke(app, ["lexicon", "import", "-f", "muse", str(muse), "-o", str(tmp_path / "muse.parquet")])
    assert result.exit_code == 0 and '"muse/malformed_line": 1' in result.output
    stats = runner.invoke(app, ["lexicon", "stats", str(tmp_path / "muse.parquet"), "--json"])
    document = json.loads(stats.output)
    assert document["pairs"][0]["pairs"] == 2 and document["import"]["stats"]["drops"] == {"muse/malformed_line": 1}


def test_errors_exit_2_with_one_line(tmp_path):
    muse = tmp_path / "dict.txt"
    muse.write_text("dog chien\n")
    result = runner.invoke(app, ["lexicon", "import", "-f", "muse", str(muse), "-o", str(tmp_path / "x.parquet"),
                                 "--source-language", "en", "--target-language", "xx"])
    assert result.exit_code == 2 and "unknown language code 'xx'" in result.output
    result = runner.invoke(app, ["lexicon", "stats", str(tmp_path / "absent.parquet")])
    assert result.exit_code == 2 and "lexicon not found" in result.output
    result = runner.invoke(app, ["lexicon", "import", "-f", "wordnet", str(muse), "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code != 0
