"""The CLIP-score rule as plain functions: thresholds, keep-fraction per shard with ties,
histogram bins, and the config's one-line errors."""
from __future__ import annotations

import numpy as np
import pytest

from babelshard.configbase import ConfigError, parse_config
from babelshard.pipelines.features.config import ClipScoreConfig, FeaturesConfig
from babelshard.pipelines.features.score import (
    cosine, cutoffs, failing_languages, histogram, histogram_bin, histogram_counters, histogram_languages,
)

SCORES = {"a": {"en": 0.30, "de": 0.10}, "b": {"en": 0.20, "de": 0.25}, "c": {"en": 0.20}, "d": {"en": 0.05, "de": 0.40}}


def test_cosine_is_row_wise():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0], [1.0, 0.0]])
    assert np.allclose(cosine(a, b), [1.0, -1.0, 0.0])


def test_thresholds_and_keep_fractions_per_language():
    settings = ClipScoreConfig(languages=["en", "de"], threshold={"de": 0.2}, keep_fraction={"en": 0.5})
    limits = cutoffs(SCORES, settings)
    assert limits == {"en": 0.20, "de": 0.2}  # best half of 4 English scores: 0.30, 0.20 (and c's tie at 0.20)
    assert [k for k in SCORES if "en" in failing_languages(SCORES[k], limits)] == ["d"]
    assert failing_languages(SCORES["a"], limits) == ["de"]
    assert cutoffs(SCORES, ClipScoreConfig(languages=["en"], keep_fraction={"en": 0.01})) == {"en": 0.30}  # at least one
    assert cutoffs(SCORES, ClipScoreConfig(languages=["en"])) == {}  # scored, no rule


def test_histogram_counts_every_score_in_its_bin():
    counters = histogram_counters(SCORES, 0.1)
    assert histogram_bin(0.30, 0.1) == "0.300" and histogram_bin(-0.01, 0.05) == "-0.050"
    assert histogram(counters, "en") == [(0.0, 1), (0.2, 2), (0.3, 1)]
    assert histogram(counters, "de") == [(0.1, 1), (0.2, 1), (0.4, 1)]
    assert histogram_languages(counters) == ["de", "en"]
    assert sum(counters.values()) == sum(len(s) for s in SCORES.values())


@pytest.mark.parametrize("section,message", [
    ({"threshold": {"en": 0.2}, "keep_fraction": {"en": 0.5}}, "threshold and keep_fraction both set for \\['en'\\]"),
    ({"threshold": {"de": 0.2}}, "rules for languages that are not scored: \\['de'\\]"),
    ({"keep_fraction": {"en": 1.5}}, "keep_fraction must be in \\(0, 1\\]"),
])
def test_contradictory_rules_are_config_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(ClipScoreConfig, section)


def test_a_features_section_needs_a_model_and_a_score_checkpoint():
    with pytest.raises(ConfigError, match="configure at least one of clip, sentence, clip_score, grid"):
        parse_config(FeaturesConfig, {})
    with pytest.raises(ConfigError, match="clip_score.checkpoint: needed when there is no clip section"):
        parse_config(FeaturesConfig, {"clip_score": {"threshold": {"en": 0.2}}})
    with pytest.raises(ConfigError, match="features.device|device"):
        parse_config(FeaturesConfig, {"device": "tpu", "clip": {"checkpoint": "x"}})
    assert parse_config(FeaturesConfig, {"clip": {"checkpoint": "c"}, "clip_score": {}}).score_checkpoint == "c"
