"""Model stages: Beam's ``RunInference`` with a model handler made of plain functions,
routed and counted like every stage (:mod:`babelshard.stage`).

``RunInference`` loads the model once per worker process (all DoFn instances and
threads of the process share it; with ``large_model`` one per machine), batches the
elements (``BatchElements``, or the stream's own :class:`~babelshard.stage.RecordBatch`
lists with ``prebatched``) and sends a batch that raises to its dead letter. Here every
input of such a batch becomes Drops (reason ``model_error`` unless the stage says
otherwise), counted like any drop. Importing this module imports Beam's ML package,
which imports torch when it is installed: only pipelines with a model stage pay that.
"""
from __future__ import annotations

import pickle
from functools import partial
from typing import Any, Callable, Iterable, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.utils.shared import Shared

from babelshard.langid import LanguageIdConfig, load_lid_model
from babelshard.stage import DROPS, WHOLE_BATCH, RecordBatch, StageCounters, StageOutputs
from babelshard.stats import Drop, StageReason


class StageModelHandler(ModelHandler):
    """``load() -> model`` and ``predict(batch, model) -> one result per element`` (a record,
    a Drop or a list of them), as a ``ModelHandler``; counts the stage's ``inputs``.

    With ``prebatched`` each element is already a list of records (a ``RecordBatch``):
    ``predict`` gets that list, and its results leave as one batch.
    """

    def __init__(self, name: str, load: Callable[[], Any], predict: Callable[[Sequence, Any], list], *,
                 prebatched: bool = False, min_batch_size: int | None = None, max_batch_size: int | None = None,
                 max_batch_duration_secs: int | None = None, large_model: bool = False, model_copies: int | None = None):
        super().__init__(
            min_batch_size=min_batch_size, max_batch_size=max_batch_size,
            max_batch_duration_secs=max_batch_duration_secs, large_model=large_model, model_copies=model_copies,
        )
        self.name, self.load, self.predict, self.prebatched = name, load, predict, prebatched
        self.counters = StageCounters(name)

    def load_model(self) -> Any:
        return self.load()

    def run_inference(self, batch: Sequence, model: Any, inference_args: dict | None = None) -> Iterable:
        self.counters.inputs.inc(len(batch))
        results = self.predict(batch, model)
        return [RecordBatch(results)] if self.prebatched else results

    def get_num_bytes(self, batch: Sequence) -> int:
        """An estimate from the first element: Beam's default pickles the whole batch
        for this metric (several us per record of a text batch)."""
        return len(batch) * len(pickle.dumps(batch[0], pickle.HIGHEST_PROTOCOL)) if batch else 0

    def get_metrics_namespace(self) -> str:
        return f"{self.name}/model"


def error_message(error: Any) -> str:
    """The message of a dead-letter entry's error ``(type, repr, traceback)``."""
    if isinstance(error, tuple) and len(error) > 1:
        return str(error[1])
    return repr(error)


def record_failure_drops(stage: str, record: Any, message: str) -> list[Drop]:
    return [Drop(record.key, stage, StageReason.MODEL_ERROR, detail=message[:300])]


class RoutePredictions(beam.DoFn):
    def __init__(self, name: str, batch_size: int | None):
        self.batch_size = batch_size
        self.counters = StageCounters(name)

    def process(self, prediction: Any):
        items = prediction if isinstance(prediction, list) else (prediction,)
        return self.counters.route(items, self.batch_size)


class RouteFailures(beam.DoFn):
    def __init__(self, name: str, failure_drops: Callable[[Any, str], list[Drop]]):
        self.failure_drops = failure_drops
        self.counters = StageCounters(name)

    def process(self, failed: tuple[Sequence, Any]):
        batch, error = failed
        message = error_message(error)
        return self.counters.route(drop for element in batch for drop in self.failure_drops(element, message))


class ModelStage(beam.PTransform):
    """``elements | ModelStage(name, handler)`` -> ``StageOutputs(main, drops)``.

    ``failure_drops(element, message)`` turns one input of a failed batch into Drops
    (default: one ``model_error`` Drop keyed by the record's key, stage ``name``). With
    ``dead_letter=False`` a failure fails the run instead (a stage that never drops).
    """

    def __init__(self, name: str, handler: StageModelHandler,
                 failure_drops: Callable[[Any, str], list[Drop]] | None = None, *, dead_letter: bool = True):
        super().__init__(label=name)
        self.name, self.handler, self.dead_letter = name, handler, dead_letter
        self.failure_drops = failure_drops or partial(record_failure_drops, name)

    def expand(self, elements):
        handler = self.handler.with_no_batching() if self.handler.prebatched else self.handler
        inference = RunInference(handler)
        if self.dead_letter:
            results, dead_letter = elements | "Infer" >> inference.with_exception_handling()
        else:
            results = elements | "Infer" >> inference
        if self.handler.prebatched:
            # RunInference cannot declare its output type, and Beam estimates the size of
            # sampled elements with the coder of theirs: untyped, it would encode every
            # record of a sampled batch (several us per record); typed, RecordBatchCoder.
            results.element_type = RecordBatch
        route = beam.ParDo(RoutePredictions(self.name, WHOLE_BATCH if self.handler.prebatched else None))
        if self.handler.prebatched:
            route = route.with_output_types(RecordBatch)
        routed = results | "Route" >> route.with_outputs(DROPS, main="main")
        if not self.dead_letter:
            return StageOutputs(routed.main, routed[DROPS])
        failed = (
            dead_letter.failed_inferences
            | "Failures" >> beam.ParDo(RouteFailures(self.name, self.failure_drops)).with_outputs(DROPS, main="main")
        )
        drops = (routed[DROPS], failed[DROPS]) | "Drops" >> beam.Flatten()
        return StageOutputs(routed.main, drops)


# RunInference keeps one model per stage and process, and a job runs one language-ID
# stage per language and language pair (a hundred in a CC-100 job): they share one
# fastText model per process through this handle (each copy costs ~5 MiB and ~90 ms).
_LID_MODEL = Shared()


def shared_lid_model(path: str | None):
    """The process's fastText model (reloaded only when a stage asks for another file)."""
    return _LID_MODEL.acquire(partial(load_lid_model, path), tag=path)


def lid_handler(name: str, settings: LanguageIdConfig, predict: Callable[[Sequence, Any], list], *,
                prebatched: bool = False) -> StageModelHandler:
    """fastText language ID (``settings.model_path``) as a model stage's handler; without
    ``prebatched``, batches of up to ``settings.max_batch_size`` elements."""
    batching = {} if prebatched else {"max_batch_size": settings.max_batch_size}
    load = partial(shared_lid_model, settings.model_path)
    return StageModelHandler(name, load, predict, prebatched=prebatched, **batching)
