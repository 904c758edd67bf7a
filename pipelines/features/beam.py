"""The model stages as one Beam step over whole shards: ``units | ComputeFeatures(settings)``.

Each element is a :class:`~babelshard.shards.bucket.ShardUnit` (a shard's records with
their images), so image bytes never cross a shuffle between the step that has them
(the download, or the read of an existing shard) and the shard writer. The step is a
model stage (:class:`babelshard.inference.ModelStage`): Beam's ``RunInference`` loads
every configured model once per worker process, :func:`compute_shard` batches a
shard's images and texts itself (by image, and by token length), and a shard whose
models raise leaves through the dead letter as the same shard with every record a
``model_error`` drop, so it is still written and counted.
"""
from __future__ import annotations

from functools import partial

import apache_beam as beam

from babelshard.inference import ModelStage, StageModelHandler
from babelshard.pipelines.features.compute import compute_shard, failed_shard, load_feature_models
from babelshard.pipelines.features.config import FeaturesConfig
from babelshard.pipelines.features.score import STAGE


def compute_units(units: list, models, settings: FeaturesConfig) -> list:
    return [compute_shard(unit, models, settings) for unit in units]


def features_handler(settings: FeaturesConfig) -> StageModelHandler:
    """One shard per batch: the shard's own batching is by image and by text length."""
    load = partial(load_feature_models, settings)
    return StageModelHandler(STAGE, load, partial(compute_units, settings=settings), min_batch_size=1, max_batch_size=1)


class ComputeFeatures(beam.PTransform):
    """``units | ComputeFeatures(settings)`` -> the units with features, scores and drops."""

    def __init__(self, settings: FeaturesConfig):
        super().__init__()
        self.settings = settings

    def expand(self, units):
        stage = ModelStage(STAGE, features_handler(self.settings), failed_shard, failures_to_main=True)
        return (units | "Models" >> stage).main
