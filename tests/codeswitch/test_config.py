"""The codeswitch config block: validation with clear errors, loading what is available."""
from __future__ import annotations

import pytest
import yaml

from babelshard.codeswitch.config import CodeSwitchConfig
from babelshard.codeswitch.lexfile import LexiconError
from babelshard.codeswitch.loading import load_lexicon, switch_params
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.configbase import ConfigError, parse_config

BLOCK = """
output: {folder: out}
codeswitch:
  lexicons:
    - {format: freedict, path: /usr/share/dictd/freedict-eng-fra.index, optional: true}
    - {format: cldr}
  languages: [fr, deu, ja]
  variants: 2
  word_ratio: 0.3
"""


def test_job_config_with_a_codeswitch_block():
    job = parse_config(JobConfig, yaml.safe_load(BLOCK))
    assert job.codeswitch.languages == ("de", "fr", "ja") and job.codeswitch.variants == 2
    assert switch_params(job.codeswitch).word_ratio == 0.3


@pytest.mark.parametrize("change, key", [
    ({"languages": ["fr", "xx"]}, "codeswitch.languages"),
    ({"languages": ["en", "fr"]}, "codeswitch"),
    ({"word_ratio": 1.5}, "codeswitch.word_ratio"),
    ({"lexicons": [{"format": "cldr", "path": "x.parquet"}]}, "codeswitch.lexicons.0"),
    ({"lexicons": [{"format": "muse"}]}, "codeswitch.lexicons.0"),
    ({"lexicons": []}, "codeswitch.lexicons"),
    ({"language_mode": "sometimes"}, "codeswitch.language_mode"),
    ({"colour": "blue"}, "codeswitch.colour"),
])
def test_bad_settings_name_their_key(change, key):
    data = yaml.safe_load(BLOCK)
    data["codeswitch"].update(change)
    with pytest.raises(ConfigError) as error:
        parse_config(JobConfig, data)
    assert f"  {key}:" in str(error.value)


def test_optional_sources_are_skipped_and_required_ones_fail(tmp_path, eng_fra):
    present = CodeSwitchConfig(lexicons=[{"format": "freedict", "path": eng_fra},
                                         {"format": "muse", "path": str(tmp_path / "en-it.txt"), "optional": True}])
    assert load_lexicon(present).languages == ("fr",)
    required = CodeSwitchConfig(lexicons=[{"format": "muse", "path": str(tmp_path / "en-it.txt")}])
    with pytest.raises(FileNotFoundError, match="en-it.txt"):
        load_lexicon(required)
    none_left = CodeSwitchConfig(lexicons=[{"format": "parquet", "path": str(tmp_path / "x.parquet"), "optional": True}])
    with pytest.raises(LexiconError, match="none of the configured lexicons"):
        load_lexicon(none_left)
    no_overlap = CodeSwitchConfig(lexicons=[{"format": "freedict", "path": eng_fra}], languages=["sw"])
    with pytest.raises(LexiconError, match="no en->"):
        load_lexicon(no_overlap)


def test_the_demo_block_loads_and_covers_demo_captions():
    from pathlib import Path

    from babelshard.codeswitch.lexicons.cldr import emoji_names
    from babelshard.codeswitch.config import DEMO_YAML
    from babelshard.codeswitch.loading import cached_lexicon
    from babelshard.codeswitch.transform import coverage

    data = yaml.safe_load(Path(__file__).parents[2].joinpath("configs", "demo.yaml").read_text())
    data.update(yaml.safe_load(DEMO_YAML))
    job = parse_config(JobConfig, data)
    lexicon = cached_lexicon(job.codeswitch)
    assert {"de", "es", "fr", "ja", "zh"} <= set(lexicon.languages)
    _, rows = emoji_names()
    names = [row["en"] for row in rows[:400] if "en" in row]
    words = covered = 0
    for name in names:
        n, per_language = coverage(name, lexicon)
        words, covered = words + n, covered + per_language.get("es", 0)
    assert covered / words > 0.3  # the demo's captions are these names
