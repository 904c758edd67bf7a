"""The one small contract every per-record Beam stage follows.

A stage is a plain function ``fn(record) -> record | Drop | list[record | Drop]``.
:class:`ApplyStage` wraps it: the DoFn sets resources up once, calls the function,
routes :class:`~babelshard.stats.Drop` values to the ``drops`` output and counts
inputs, outputs and drops by reason as Beam metrics. Nothing is dropped silently.
"""
from __future__ import annotations

from typing import Any, Callable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from babelshard.stats import Drop

DROPS = "drops"


class StageDoFn(beam.DoFn):
    def __init__(self, name: str, fn: Callable[..., Any], make_resources: Callable[[], Any] | None = None):
        self.name, self.fn, self.make_resources = name, fn, make_resources
        self.resources = None
        self.inputs = Metrics.counter(name, "inputs")
        self.outputs = Metrics.counter(name, "outputs")

    def setup(self) -> None:
        if self.make_resources is not None:
            self.resources = self.make_resources()

    def process(self, record: Any):
        self.inputs.inc()
        result = self.fn(record, self.resources) if self.make_resources is not None else self.fn(record)
        for item in result if isinstance(result, list) else [result]:
            if isinstance(item, Drop):
                Metrics.counter(self.name, f"dropped/{item.reason}").inc()
                yield pvalue.TaggedOutput(DROPS, item)
            elif item is not None:
                self.outputs.inc()
                yield item


class ApplyStage(beam.PTransform):
    """``records | ApplyStage("clean", clean_caption)`` gives outputs with ``.main`` and ``.drops``.

    With ``make_resources`` the function is called as ``fn(record, resources)`` and the
    resources (a model, a lexicon) are created once per DoFn instance in ``setup()``.
    """

    def __init__(self, name: str, fn: Callable[..., Any], make_resources: Callable[[], Any] | None = None):
        super().__init__(label=name)
        self.name, self.fn, self.make_resources = name, fn, make_resources

    def expand(self, records):
        return records | beam.ParDo(StageDoFn(self.name, self.fn, self.make_resources)).with_outputs(DROPS, main="main")
