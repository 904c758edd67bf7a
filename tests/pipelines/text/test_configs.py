"""Every configs/ example of the text and parallel streams validates, and together they
cover every source format."""
from __future__ import annotations

import glob
import os

import pytest

from babelshard.pipelines.jobs.config import load_job_config
from babelshard.configbase import ConfigError, parse_config
from babelshard.pipelines.jobs.config import JobConfig

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "configs")
EXAMPLES = sorted(glob.glob(os.path.join(CONFIGS, "text-*.yaml")) + glob.glob(os.path.join(CONFIGS, "parallel-*.yaml")))


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_config_loads(path):
    cfg = load_job_config(path)
    assert (cfg.text is not None) == os.path.basename(path).startswith("text-")
    assert (cfg.parallel is not None) == os.path.basename(path).startswith("parallel-")


def test_examples_cover_every_source_format():
    formats = set()
    for path in EXAMPLES:
        cfg = load_job_config(path)
        for section in (cfg.text, cfg.parallel):
            formats.update(s.format for s in (section.sources if section else []))
    assert formats == {"cc100", "wikipedia", "jsonl", "wikimatrix", "tsv", "moses", "tmx", "po"}


@pytest.mark.parametrize(
    "parallel, message",
    [
        ({"sources": [{"name": "a", "format": "po", "target_language": "en", "paths": ["x"]}]}, "both 'en'"),
        ({"sources": [{"name": "a", "format": "tmx", "source_language": "en", "target_language": "de", "paths": []}]}, "paths"),
        ({"sources": [{"name": "a", "format": "po", "target_language": "de", "paths": ["x"]}], "filters": {"min_chars": 9, "max_chars": 3}}, "min_chars"),
        ({"sources": [{"name": "a", "format": "moses", "source_language": "en", "target_language": "de", "paths": ["x"], "score_column": 1}]}, "parallel.sources.0.moses.score_column"),
        ({"sources": [{"name": "a", "format": "po", "target_language": "de", "paths": ["x"]}], "alpha": 0}, "parallel.alpha"),
    ],
)
def test_config_errors_name_the_key(parallel, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(JobConfig, {"output": {"folder": "x"}, "parallel": parallel})
