"""The translation model stage's handler: batches with several pairs, failures isolated, dead letter."""
from __future__ import annotations

import os
import pickle
import tempfile

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline

from babelshard.translate.cache import cache_key
from babelshard.translate.config import BatchingConfig, CTranslate2EngineConfig
from babelshard.translate.engines import create_engine, engine_identity
from babelshard.translate.handler import TranslationModelHandler, translate_jobs
from babelshard.inference import ModelStage
from babelshard.translate.requests import FailedJob, TranslatedJob, TranslateReason, TranslationJob, failed_job_drops


def toy_engine_config(toy_marian):
    return CTranslate2EngineConfig(kind="ctranslate2", model_path=toy_marian.ctranslate2_dir, language_tokens="m2m100",
                                   compute_type="float32", beam_size=1, max_decoding_length=6)


def job(text, target, keys=("k1",)):
    return TranslationJob(cache_key("ctranslate2", "m", "en", target, text), "toy", "en", target, text, tuple(keys))


def test_a_batch_mixing_pairs_keeps_order_and_isolates_the_failing_pair(toy_marian):
    config = toy_engine_config(toy_marian)
    engine = create_engine(config)
    identities = {t: engine_identity(config, "en", t) for t in ("es", "ca", "fr")}
    jobs = [job("A red apple.", "es"), job("A red apple.", "fr"), job("Two dogs.", "ca"), job("Two dogs.", "es")]
    results = translate_jobs(engine, jobs, identities)
    assert [type(r) for r in results] == [TranslatedJob, FailedJob, TranslatedJob, TranslatedJob]
    assert [r.job for r in results] == jobs
    assert "__fr__" in results[1].error
    for result in (results[0], results[2], results[3]):
        target = result.job.target_language
        expected = engine.translate([result.job.text], "en", target)[0]
        assert result.entry.text == expected.text and result.entry.score == expected.score
        assert (result.entry.engine, result.entry.model) == identities[target] and result.fresh


def test_batching_and_sharing_options_reach_beam(toy_marian):
    batching = BatchingConfig(min_batch_size=8, max_batch_size=64, share_model_per_machine=True)
    handler = TranslationModelHandler("toy", toy_engine_config(toy_marian), batching, {})
    assert handler.batch_elements_kwargs() == {"min_batch_size": 8, "max_batch_size": 64}
    assert handler.share_model_across_processes()
    copies = TranslationModelHandler("toy", toy_engine_config(toy_marian), BatchingConfig(model_copies=2), {})
    assert copies.model_copies() == 2 and copies.share_model_across_processes()
    assert not TranslationModelHandler("toy", toy_engine_config(toy_marian), BatchingConfig(), {}).share_model_across_processes()


def save(items, path):
    with open(path, "wb") as handle:
        pickle.dump(items, handle)


def test_a_failed_batch_goes_to_the_dead_letter_as_drops(toy_marian):
    """A handler missing the identity of a target fails the whole batch (outside the
    per-text retry); the model stage turns RunInference's dead letter into one drop per sample."""
    handler = TranslationModelHandler("toy", toy_engine_config(toy_marian), BatchingConfig(), {"es": ("ctranslate2", "m")})
    jobs = [job("A red apple.", "ca", keys=("k1", "k2")), job("Two dogs.", "ca", keys=("k3",))]
    path = os.path.join(tempfile.mkdtemp(), "drops.pickle")
    pipeline = TestPipeline()
    translated = pipeline | beam.Create(jobs) | ModelStage("translate", handler, failed_job_drops)
    translated.drops | beam.combiners.ToList() | beam.Map(save, path)
    pipeline.run().wait_until_finish()
    with open(path, "rb") as handle:
        drops = pickle.load(handle)
    assert sorted(d.detail.split()[0] for d in drops) == ["k1", "k2", "k3"]
    assert {d.reason for d in drops} == {TranslateReason.ENGINE_ERROR} and all("KeyError" in d.detail for d in drops)
