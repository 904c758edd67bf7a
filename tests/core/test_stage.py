"""The stage contract in a real Beam pipeline: per-record and batched stages route
drops, count by reason, and batches keep their type and coder across stages."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import registry
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.stage import ApplyBatchStage, ApplyStage, RecordBatch, RecordBatchCoder, per_record
from babelshard.records import TextSample
from babelshard.stats import Drop


def sample(n: int, text: str) -> TextSample:
    return TextSample(key=f"k{n:03d}", text=text, language="en", source="test")


def keep_long(record: TextSample):
    return record if len(record.text) >= 5 else Drop(record.key, "test", "too_short", detail=record.text)


def split_words(record: TextSample):
    return [sample(int(record.key[1:]) * 10 + i, word) for i, word in enumerate(record.text.split())]


TEXTS = ["a cat", "hi", "the red fox jumps", "", "yes"]
RECORDS = [sample(n, text) for n, text in enumerate(TEXTS)]


def test_per_record_and_batched_stages_give_the_same_records_and_drops():
    expected_kept = [r.key for r in RECORDS if len(r.text) >= 5]
    expected_drops = sorted(r.key for r in RECORDS if len(r.text) < 5)
    with TestPipeline() as pipeline:
        single = pipeline | "One" >> beam.Create(RECORDS) | "PerRecord" >> ApplyStage("test", keep_long)
        batched = (
            pipeline
            | "Two" >> beam.Create([RecordBatch(RECORDS[:2]), RecordBatch(RECORDS[2:])]).with_output_types(RecordBatch)
            | "Batched" >> ApplyBatchStage("test_batched", per_record(keep_long))
        )
        assert_that(single.main | "K1" >> beam.Map(lambda r: r.key), equal_to(expected_kept), label="single")
        assert_that(batched.main | "K2" >> beam.FlatMap(lambda b: [r.key for r in b]), equal_to(expected_kept), label="batched")
        assert_that(batched.main | "Types" >> beam.Map(lambda b: type(b).__name__), equal_to(["RecordBatch"] * 2), label="types")
        assert_that(batched.drops | "D" >> beam.Map(lambda d: (d.key, d.reason)), equal_to([(k, "too_short") for k in expected_drops]), label="drops")


def test_a_batched_stage_may_return_several_records_per_input_and_drops_empty_batches():
    with TestPipeline() as pipeline:
        words = (
            pipeline
            | beam.Create([RecordBatch(RECORDS[:1]), RecordBatch([sample(9, "")])]).with_output_types(RecordBatch)
            | ApplyBatchStage("words", per_record(split_words))
        )
        assert_that(words.main | beam.Map(lambda b: [r.text for r in b]), equal_to([["a", "cat"]]))


def test_record_batch_coder_round_trip_and_size_estimate():
    coder = registry.get_coder(RecordBatch)
    assert isinstance(coder, RecordBatchCoder)
    batch = RecordBatch(RECORDS)
    decoded = coder.decode(coder.encode(batch))
    assert decoded == batch and isinstance(decoded, RecordBatch)
    estimate = coder.estimate_size(batch)
    assert len(coder.encode(batch)) / 3 < estimate < 3 * len(coder.encode(batch))
    assert coder.estimate_size(RecordBatch()) == 1
