"""The Beam stage in a real TestPipeline: variants in cs.json, coverage counters, determinism."""
from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.codeswitch.beam import CodeSwitchCaptions, coverage_from_metrics, make_resources, switch_caption
from babelshard.codeswitch.config import CodeSwitchConfig
from babelshard.codeswitch.loading import cached_lexicon
from babelshard.codeswitch.transform import coverage
from babelshard.records import Caption, CaptionSample, stable_key


def _samples(captions) -> list[CaptionSample]:
    samples = [
        CaptionSample(key=stable_key("test", str(i)), source="test", url=f"http://x/{i}.png",
                      captions={"en": Caption(text), "de": Caption("eine Bildunterschrift", provenance="mt")})
        for i, text in enumerate(captions)
    ]
    samples.append(CaptionSample(key=stable_key("test", "no-en"), source="test", url="http://x/no-en.png",
                                 captions={"fr": Caption("un chien")}))
    return samples


@pytest.fixture
def config(eng_fra) -> CodeSwitchConfig:
    return CodeSwitchConfig(
        lexicons=[{"format": "freedict", "path": eng_fra}, {"format": "cldr"},
                  {"format": "freedict", "path": "/nonexistent/freedict-eng-ita.index", "optional": True}],
        variants=3, sent_ratio=0.8, word_ratio=0.4, languages=["fr", "de", "ja"],
    )


def _check_variants(samples: list[CaptionSample]) -> None:
    """Runs inside the pipeline (assert_that): the shape of every cs.json entry."""
    for sample in samples:
        variants = sample.codeswitched
        if "en" not in sample.captions:
            assert variants == ()
        assert [v.variant for v in variants] == sorted({v.variant for v in variants})
        for variant in variants:
            assert set(variant.as_json()) == {"variant", "text", "tokens", "langs"} and 0 <= variant.variant < 3
            assert len(variant.tokens) == len(variant.langs) and set(variant.langs) <= {"en", "fr", "de", "ja"}
            assert set(variant.langs) != {"en"}
        back = CaptionSample.from_sample(sample.to_sample())  # cs.json round trip
        assert [v.as_json() for v in back.codeswitched] == json.loads(json.dumps([v.as_json() for v in variants]))
        assert back.codeswitched == variants


def _run(samples, config, expected):
    pipeline = TestPipeline()
    switched = pipeline | beam.Create(samples) | CodeSwitchCaptions(config)
    assert_that(switched, _check_variants, label="Shape")
    assert_that(switched, equal_to(expected), label="SameAsFunction")
    result = pipeline.run()
    result.wait_until_finish()
    return result


def test_stage_equals_the_pure_function_and_counts(captions, config):
    samples = _samples(captions)
    resources = make_resources(config)
    expected = [switch_caption(sample, resources) for sample in samples]
    assert sum(len(s.codeswitched) for s in expected) > len(captions)
    result = _run(samples, config, expected)
    lexicon = cached_lexicon(config)
    counters = {r.key.metric.name: r.committed for r in result.metrics().query()["counters"]
                if r.key.metric.namespace == "codeswitch"}
    assert counters["variants_written"] == sum(len(s.codeswitched) for s in expected)
    assert counters["skipped/no_source_caption"] == 1 and counters["inputs"] == counters["outputs"] == len(samples)
    assert counters["variants_selected"] == counters["variants_written"] + counters.get("variants_unchanged", 0)
    words = sum(coverage(text, lexicon)[0] for text in captions)
    expected_share = {lang: sum(coverage(t, lexicon)[1].get(lang, 0) for t in captions) / words for lang in lexicon.languages}
    assert coverage_from_metrics(result.metrics()) == pytest.approx({k: v for k, v in expected_share.items() if v})
    assert 0 < expected_share["fr"] <= 1 and lexicon.languages == ("de", "fr", "ja")


def test_reruns_are_identical(captions, config):
    samples = _samples(captions)
    first = [switch_caption(s, make_resources(config)) for s in samples]
    _run(samples, config, first)  # a second, independent run in Beam gives the same samples
