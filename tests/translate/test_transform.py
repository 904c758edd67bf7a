"""TranslateCaptions in a real Beam TestPipeline on caption shards, with a real CTranslate2 model."""
from __future__ import annotations

import json
import os
import pickle
import tempfile

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline

from babelshard.records import Caption
from babelshard.shards.beam import WriteShards
from babelshard.shards.reader import iter_records, iter_samples
from babelshard.stats import Drop
from babelshard.translate.config import TranslateConfig
from babelshard.langid import LanguageReason
from babelshard.textnorm import LengthReason
from babelshard.translate.filters import FilterReason
from babelshard.translate.requests import TranslateReason, pair_key
from babelshard.translate.toy_model import transformers_greedy_pieces
from babelshard.translate.transform import TranslateCaptions


def toy_config(toy_marian, **overrides) -> TranslateConfig:
    settings = {
        "targets": {"es": "toy"},
        "engines": {"toy": {"kind": "ctranslate2", "model_path": toy_marian.ctranslate2_dir, "language_tokens": "m2m100",
                            "compute_type": "float32", "beam_size": 1, "max_decoding_length": 10}},
        "filters": {"enabled": False},
    }
    settings.update(overrides)
    return TranslateConfig.model_validate(settings)


def save_list(items, path):
    with open(path, "wb") as handle:
        pickle.dump(items, handle)


def run(samples, config, folder=None, scratch=None):
    """Run TranslateCaptions; returns (samples, pairs, drops, translate counters)."""
    scratch = scratch or tempfile.mkdtemp(prefix="translate-test-")
    pipeline = TestPipeline()
    result = pipeline | beam.Create(samples) | TranslateCaptions(config)
    for name in ("samples", "parallel", "drops"):
        # Workers get pickled copies of functions, so results travel through files.
        result[name] | f"Collect{name}" >> beam.combiners.ToList() | f"Save{name}" >> beam.Map(
            save_list, os.path.join(scratch, f"{name}.pickle"))
    if folder is not None:
        result["samples"] | WriteShards(f"{folder}/caption", "caption", samples_per_shard=4)
        {"samples": result["parallel"], "drops": result["drops"]} | "WritePairs" >> WriteShards(
            f"{folder}/parallel", "parallel", samples_per_shard=4)
    state = pipeline.run()
    state.wait_until_finish()
    outputs = []
    for name in ("samples", "parallel", "drops"):
        with open(os.path.join(scratch, f"{name}.pickle"), "rb") as handle:
            outputs.append(pickle.load(handle))
    query = state.metrics().query(MetricsFilter().with_namespace("translate"))["counters"]
    return (*outputs, {c.key.metric.name: c.committed for c in query})


@pytest.mark.slow
def test_toy_marian_through_beam_on_caption_shards_equals_transformers(toy_marian, caption_shards, tmp_path):
    records = list(iter_records(caption_shards))
    config = toy_config(toy_marian, outputs={"parallel": True})
    out = str(tmp_path / "out")
    samples, pairs, drops, counters = run(records, config, folder=out)
    captions = [r.caption for r in records]
    distinct = sorted(set(captions))
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=toy_marian.spm_path)
    reference = dict(zip(distinct, transformers_greedy_pieces(toy_marian, distinct, 10, prefix=("__en__", "__es__"))))
    written = {s.key: s for s in iter_records(f"{out}/caption")}
    assert sorted(written) == sorted(r.key for r in records) and drops == []
    for record in records:
        spanish = written[record.key].captions["es"]
        assert spanish.text == sp.decode(reference[record.caption])
        assert (spanish.provenance, spanish.engine) == ("mt", "ctranslate2") and spanish.score < 0
    meta = json.loads(next(iter_samples(f"{out}/caption"))["json"])
    assert meta["languages"]["es"]["model"].startswith("ctranslate2@") and "score" in meta["languages"]["es"]
    written_pairs = {p.key: p for p in iter_records(f"{out}/parallel")}
    assert sorted(written_pairs) == sorted(pair_key(r.key, "en", "es") for r in records)
    assert all(p.source_text == written[p.meta["sample_key"]].caption for p in written_pairs.values())
    assert counters["sentences/toy"] == counters["cache_misses"] == len(distinct)
    assert counters["requests"] == len(records)


@pytest.mark.slow
def test_cache_reruns_translate_only_what_is_new(toy_marian, caption_samples, tmp_path):
    cache = {"url": str(tmp_path / "cache")}
    distinct = len({s.caption for s in caption_samples})
    first, _, _, counters = run(caption_samples, toy_config(toy_marian, cache=cache))
    assert len(first) == len(caption_samples) and all("es" in s.captions for s in first)
    assert counters["cache_misses"] == counters["sentences/toy"] == distinct and "cache_hits" not in counters

    again, _, _, counters = run(caption_samples, toy_config(toy_marian, cache=cache))
    assert counters["cache_hits"] == distinct and "cache_misses" not in counters and "sentences/toy" not in counters
    assert sorted(again, key=lambda s: s.key) == sorted(first, key=lambda s: s.key)

    more, _, _, counters = run(caption_samples, toy_config(toy_marian, cache=cache, targets={"es": "toy", "ca": "toy"}))
    assert counters["cache_hits"] == distinct and counters["cache_misses"] == counters["sentences/toy"] == distinct
    assert all({"es", "ca"} <= set(s.captions) for s in more)


@pytest.mark.slow
def test_failures_drop_languages_not_samples(toy_marian, caption_samples, lid_model_path):
    """es: the random model's outputs fail the quality checks; fr: the model has no __fr__
    token, so the engine raises. Every (sample, language) ends as a caption or a drop."""
    config = toy_config(toy_marian, targets={"es": "toy", "fr": "toy", "de": "toy"},
                        filters={"lid_model_path": lid_model_path}, outputs={"parallel": True})
    samples, pairs, drops, counters = run(caption_samples, config)
    assert sorted(s.key for s in samples) == sorted(s.key for s in caption_samples)
    assert all(isinstance(d, Drop) and d.stage == "translate" for d in drops)
    fr = [d for d in drops if d.detail.split()[1] == "fr:"]
    assert len(fr) == len(caption_samples) and {d.reason for d in fr} == {TranslateReason.ENGINE_ERROR}
    assert all("__fr__" in d.detail for d in fr)
    checked = [d for d in drops if d not in fr]
    assert checked and {d.reason for d in checked} <= {*FilterReason, LengthReason.EMPTY, LanguageReason.MISMATCH}
    translated = sum(len(s.captions) - 1 for s in samples)
    assert translated + len(drops) == 3 * len(caption_samples)
    assert len(pairs) == translated
    assert sum(v for k, v in counters.items() if k.startswith("dropped/")) == len(drops)


@pytest.mark.slow
def test_human_captions_are_kept_or_moved_to_extra_captions(toy_marian, sample_factory):
    samples = sample_factory(humans={0: {"es": "Una manzana roja sobre una mesa de madera."}})
    kept, _, _, counters = run(samples, toy_config(toy_marian))
    by_key = {s.key: s for s in kept}
    assert by_key[samples[0].key].captions["es"] == Caption("Una manzana roja sobre una mesa de madera.")
    assert counters["kept_human"] == 1 and counters["requests"] == len(samples) - 1

    replaced, _, _, _ = run(samples, toy_config(toy_marian, when_human_exists="translate"))
    first = {s.key: s for s in replaced}[samples[0].key]
    assert first.captions["es"].provenance == "mt"
    assert first.extra_captions["es"] == ("Una manzana roja sobre una mesa de madera.",)
