"""Translation configs: the shipped examples validate, mistakes are named."""
from __future__ import annotations

import glob
import os

import pytest

from babelshard.pipelines.jobs.config import load_job_config
from babelshard.configbase import ConfigError, parse_config
from babelshard.translate.config import CTranslate2EngineConfig, TranslateConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "translate-*.yaml"))))
def test_example_configs_validate(path):
    config = load_job_config(path).translate
    assert config is not None and config.targets
    assert set(config.targets.values()) <= set(config.engines)


def test_examples_exist():
    assert len(glob.glob(os.path.join(ROOT, "configs", "translate-*.yaml"))) >= 3


def parse(data):
    return parse_config(TranslateConfig, data)


def test_a_target_must_name_a_configured_engine():
    with pytest.raises(ConfigError, match="engine 'marian'"):
        parse({"targets": {"de": "marian"}, "engines": {"apertium": {"kind": "apertium"}}})


def test_engine_keys_belong_to_their_kind():
    with pytest.raises(ConfigError, match=r"engines\.a\.apertium\.beam_size"):
        parse({"targets": {"es": "a"}, "engines": {"a": {"kind": "apertium", "beam_size": 4}}})


def test_target_cannot_be_the_source_and_codes_are_checked():
    with pytest.raises(ConfigError, match="source language"):
        parse({"targets": {"en": "a"}, "engines": {"a": {"kind": "apertium"}}})
    with pytest.raises(ConfigError, match="targets"):
        parse({"targets": {"spanish!": "a"}, "engines": {"a": {"kind": "apertium"}}})


def test_length_ratio_bounds_are_ordered():
    with pytest.raises(ConfigError, match="lower bound"):
        parse({"targets": {"es": "a"}, "engines": {"a": {"kind": "apertium"}}, "filters": {"length_ratio_overrides": {"zh": [2, 1]}}})


def test_defaults_are_gpu_ready():
    engine = CTranslate2EngineConfig(kind="ctranslate2", model_path="m")
    assert (engine.device, engine.compute_type, engine.long_inputs) == ("auto", "auto", "split")
