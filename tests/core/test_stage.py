"""The stage contract in a real Beam pipeline: per-record, batched, group, reader and model
stages route drops and count inputs, outputs and drops by reason; resources and models are
set up once per worker; batches keep their type and coder across stages."""
from __future__ import annotations

import dataclasses
import os
import pickle
from functools import partial

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import registry
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.inference import ModelStage, StageModelHandler
from babelshard.records import TextSample
from babelshard.stage import ApplyBatchStage, ApplyStage, GroupStage, ReadFiles, RecordBatch, RecordBatchCoder, per_record
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


# --- every adapter: drops routed and counted by reason, resources set up once -------------

def counters_of(result, namespace: str) -> dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
    totals: dict[str, int] = {}
    for item in query:
        totals[item.key.metric.name] = totals.get(item.key.metric.name, 0) + item.committed
    return totals


def run_and_collect(build, scratch, options=None):
    """Run a pipeline whose ``build(pipeline)`` returns {name: pcoll}; the outputs come back
    through files (workers get pickled copies), with the run's result."""
    pipeline = TestPipeline(options=options)
    for name, pcoll in build(pipeline).items():
        pcoll | f"Collect[{name}]" >> beam.combiners.ToList() | f"Save[{name}]" >> beam.Map(save, scratch / f"{name}.pickle")
    result = pipeline.run()
    result.wait_until_finish()
    return {path.stem: load(path) for path in scratch.glob("*.pickle")}, result


def save(items, path) -> None:
    with open(path, "wb") as handle:
        pickle.dump(items, handle)


def load(path):
    with open(path, "rb") as handle:
        return pickle.load(handle)


def note_call(path: str, value=None):
    """Notes each call in ``path`` (one line: the process id); returns a weak-referenceable value."""
    with open(path, "a") as handle:
        handle.write(f"{os.getpid()}\n")
    return Resource(value)


class Resource:
    def __init__(self, value):
        self.value = value


def keep_long_with(record: TextSample, resources: Resource):
    return record if len(record.text) >= resources.value else Drop(record.key, "test", "too_short")


THREADS = PipelineOptions(direct_num_workers=2, direct_running_mode="multi_threading")


def test_per_record_resources_are_made_once_per_worker_and_drops_counted(tmp_path):
    calls = tmp_path / "calls.txt"
    records = [sample(n, "x" * (n % 7)) for n in range(60)]
    make = partial(note_call, str(calls), 5)

    def build(pipeline):
        out = pipeline | beam.Create(records) | ApplyStage("perrecord", keep_long_with, make)
        return {"kept": out.main | "K" >> beam.Map(lambda r: r.key), "drops": out.drops | "D" >> beam.Map(lambda d: d.key)}

    got, result = run_and_collect(build, tmp_path, THREADS)
    assert sorted(got["kept"]) == [r.key for r in records if len(r.text) >= 5]
    assert sorted(got["drops"]) == [r.key for r in records if len(r.text) < 5]
    assert 1 <= len(calls.read_text().split()) <= 2  # one per DoFn instance (thread), not per record
    counts = counters_of(result, "perrecord")
    assert counts == {"inputs": 60, "outputs": len(got["kept"]), "dropped/too_short": len(got["drops"])}


def resolve_by_first_letter(key: str, records, extra=()) -> list:
    ordered = sorted(records, key=lambda r: r.key)
    notes = [pvalue.TaggedOutput("notes", f"{key}:{len(list(extra))}")]
    return [ordered[0], *notes, *(Drop(r.key, "test", "same_letter", detail=ordered[0].key) for r in ordered[1:])]


def test_group_stage_resolves_each_group_routes_drops_and_extra_outputs(tmp_path):
    words = ["apple", "avocado", "banana", "blueberry", "cherry", "apricot"]
    records = [sample(n, word) for n, word in enumerate(words)]

    def build(pipeline):
        extra = pipeline | "Extra" >> beam.Create([("a", 1), ("a", 2), ("c", 3)])
        grouped = pipeline | beam.Create(records) | GroupStage(
            "group", resolve_by_first_letter, key=lambda r: r.text[0], join={"extra": extra}, outputs=("notes",),
            batch_size=2,
        )
        return {
            "kept": grouped.main | "Types" >> beam.Map(lambda b: (type(b).__name__, [r.text for r in b])),
            "drops": grouped.drops | "D" >> beam.Map(lambda d: (d.reason, d.key)),
            "notes": grouped["notes"],
        }

    got, result = run_and_collect(build, tmp_path)
    assert {kind for kind, _ in got["kept"]} == {"RecordBatch"}
    assert sorted(text for _, texts in got["kept"] for text in texts) == ["apple", "banana", "cherry"]
    assert sorted(got["drops"]) == [("same_letter", "k001"), ("same_letter", "k003"), ("same_letter", "k005")]
    assert sorted(got["notes"]) == ["a:2", "b:0", "c:1"]
    counts = counters_of(result, "group")
    assert counts["inputs"] == 6 and counts["dropped/same_letter"] == 3
    assert counts["outputs"] == 3 + 3  # kept records and the notes


def read_numbers(path: str):
    """One record per line of a file; a line that is not a number is a drop."""
    with open(path) as handle:
        for number, line in enumerate(handle):
            key = f"{os.path.basename(path)}:{number}"
            yield sample(int(line), line.strip()) if line.strip().isdigit() else Drop(key, "test", "not_a_number")


def test_reader_stage_reads_every_matched_file_into_batches_and_counts(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("1\n2\nthree\n4\n")
    (folder / "b.txt").write_text("5\nsix\n7\n")

    def build(pipeline):
        read = pipeline | ReadFiles("reader", [str(folder / "*.txt")], read_numbers, batch_size=2)
        return {
            "batches": read.main | "B" >> beam.Map(lambda b: (type(b).__name__, sorted(r.text for r in b))),
            "drops": read.drops | "D" >> beam.Map(lambda d: (d.key, d.reason)),
        }

    (tmp_path / "out").mkdir()
    got, result = run_and_collect(build, tmp_path / "out")
    assert {kind for kind, _ in got["batches"]} == {"RecordBatch"} and all(len(b) <= 2 for _, b in got["batches"])
    assert sorted(t for _, b in got["batches"] for t in b) == ["1", "2", "4", "5", "7"]
    assert sorted(got["drops"]) == [("a.txt:2", "not_a_number"), ("b.txt:1", "not_a_number")]
    assert counters_of(result, "reader") == {"inputs": 2, "outputs": 5, "dropped/not_a_number": 2}


def label_batch(batch, model: Resource) -> list:
    """Per record: kept with the size of the batch it came in, or dropped by the model."""
    return [
        Drop(r.key, "test", "rejected") if r.text in model.value else dataclasses.replace(r, text=f"{r.text}/{len(batch)}")
        for r in batch
    ]


def explode(batch, model):
    raise RuntimeError("model failure")


def test_model_stage_loads_once_per_process_batches_and_routes_drops(tmp_path):
    loads = tmp_path / "loads.txt"
    records = [sample(n, f"w{n}") for n in range(40)]
    handler = StageModelHandler("model", partial(note_call, str(loads), {"w3", "w7"}), label_batch,
                                min_batch_size=4, max_batch_size=8)

    def build(pipeline):
        out = pipeline | beam.Create(records) | ModelStage("model", handler)
        return {"kept": out.main | "K" >> beam.Map(lambda r: r.text), "drops": out.drops | "D" >> beam.Map(lambda d: (d.key, d.reason))}

    got, result = run_and_collect(build, tmp_path, THREADS)
    assert len(loads.read_text().split()) == 1  # RunInference shares the model across the process's threads
    sizes = [int(text.split("/")[1]) for text in got["kept"]]
    assert max(sizes) > 1 and all(size <= 8 for size in sizes)  # batched, within the handler's bounds
    assert sorted(text.split("/")[0] for text in got["kept"]) == sorted(f"w{n}" for n in range(40) if n not in (3, 7))
    assert sorted(got["drops"]) == [("k003", "rejected"), ("k007", "rejected")]
    assert counters_of(result, "model") == {"inputs": 40, "outputs": 38, "dropped/rejected": 2}


def test_a_failed_model_batch_becomes_counted_model_error_drops(tmp_path):
    records = [sample(n, f"w{n}") for n in range(6)]
    batches = [RecordBatch(records[:4]), RecordBatch(records[4:])]
    handler = StageModelHandler("broken", partial(Resource, None), explode, prebatched=True)

    def build(pipeline):
        out = pipeline | beam.Create(batches).with_output_types(RecordBatch) | ModelStage("broken", handler)
        return {"kept": out.main, "drops": out.drops | beam.Map(lambda d: (d.key, d.stage, d.reason, d.detail))}

    got, result = run_and_collect(build, tmp_path)
    assert got["kept"] == []
    assert sorted(key for key, *_ in got["drops"]) == [r.key for r in records]
    assert {(stage, reason) for _, stage, reason, _ in got["drops"]} == {("broken", "model_error")}
    assert all("model failure" in detail for *_, detail in got["drops"])
    assert counters_of(result, "broken")["dropped/model_error"] == 6


def test_a_prebatched_model_stage_keeps_batches(tmp_path):
    records = [sample(n, f"w{n}") for n in range(5)]

    def build(pipeline):
        handler = StageModelHandler("lid", partial(Resource, {"w1"}), label_batch, prebatched=True)
        batches = pipeline | beam.Create([RecordBatch(records[:3]), RecordBatch(records[3:])]).with_output_types(RecordBatch)
        out = batches | ModelStage("lid", handler)
        return {"kept": out.main | beam.Map(lambda b: (type(b).__name__, sorted(r.text for r in b)))}

    got, _ = run_and_collect(build, tmp_path)
    assert sorted(got["kept"]) == [("RecordBatch", ["w0/3", "w2/3"]), ("RecordBatch", ["w3/2", "w4/2"])]


def test_language_id_stages_of_a_process_share_one_model(lid_model_path):
    """A job runs one language-ID stage per language; their handlers load one fastText model per process."""
    from babelshard.inference import shared_lid_model

    model = shared_lid_model(lid_model_path)
    assert shared_lid_model(lid_model_path) is model
    assert model.predict("Ein Hund spielt im Park.")[0][0] == "__label__de"
