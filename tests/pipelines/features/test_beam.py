"""The model stages in a Beam TestPipeline (RunInference over whole shards): features and
scores equal the models' direct outputs on the same images and texts, the CLIP-score
filter's drops add up per shard, and a shard whose model raises is written as drops."""
from __future__ import annotations

import json
from collections import Counter
from functools import partial

import numpy as np
import pytest
import torch
import transformers
from apache_beam.testing.test_pipeline import TestPipeline
import apache_beam as beam

from babelshard.inference import ModelStage, StageModelHandler
from babelshard.pipelines.features.beam import ComputeFeatures, compute_units
from babelshard.pipelines.features.compute import failed_shard, load_feature_models
from babelshard.pipelines.features.config import FeaturesConfig
from babelshard.pipelines.features.models import decode_image
from babelshard.pipelines.features.score import STAGE, cosine, histogram
from babelshard.pipelines.jobs.translate import read_shard
from babelshard.shards.beam import WriteShardUnits
from babelshard.shards.bucket import ShardUnit, read_failures
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records

TOLERANCE = 1e-5


def shard_units(folder: str) -> list[ShardUnit]:
    return [ShardUnit(n, read_shard(shard, folder)) for n, shard in enumerate(read_index(folder).shards)]


def run_stage(units: list[ShardUnit], settings: FeaturesConfig, folder: str) -> None:
    with TestPipeline() as pipeline:
        (pipeline | beam.Create(units) | ComputeFeatures(settings)
         | WriteShardUnits(folder, "caption", len(units), "test", {}))


def shard_stats(folder: str, count: int) -> list[dict]:
    return [json.load(open(f"{folder}/shard-{n:06d}.stats.json"))["stats"] for n in range(count)]


def library_outputs(path: str, images: list[bytes], texts: list[str]):
    """Embeddings from transformers' own classes, one input at a time."""
    model = transformers.AutoModel.from_pretrained(path, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
    with torch.no_grad():
        image = [model.get_image_features(**processor(images=[decode_image(b)], return_tensors="pt")).pooler_output[0].numpy()
                 for b in images]
        text = [model.get_text_features(**tokenizer([t], return_tensors="pt")).pooler_output[0].numpy() for t in texts]
    return np.stack(image), np.stack(text)


def test_features_and_scores_equal_the_models_direct_outputs(caption_shards, checkpoints, tmp_path):
    units = shard_units(caption_shards)
    inputs = [r for u in units for r in u.records if r.image is not None and not r.key.startswith("broken")]
    images, texts = library_outputs(checkpoints["clip"], [r.image for r in inputs], [r.caption for r in inputs])
    expected_scores = dict(zip((r.key for r in inputs), cosine(images, texts)))
    ordered = sorted(expected_scores.values())
    threshold = (ordered[9] + ordered[10]) / 2  # between two scores: 10 of the 40 below it
    settings = FeaturesConfig(clip={"checkpoint": checkpoints["clip"], "pooled": True},
                              sentence={"checkpoint": checkpoints["xlmr"], "languages": ["en", "de", "ja"]},
                              clip_score={"threshold": {"en": threshold}}, dtype="float32", batch_size=5, text_batch_size=7)
    folder = str(tmp_path / "caption")
    run_stage(units, settings, folder)

    written = {r.key: r for r in iter_records(folder)}
    assert set(written) == {key for key, score in expected_scores.items() if score >= threshold}
    row = {r.key: i for i, r in enumerate(inputs)}
    for key, record in written.items():
        assert np.abs(record.features["clip_image"] - images[row[key]]).max() <= TOLERANCE
        assert np.abs(record.features["clip_text_en"] - texts[row[key]]).max() <= TOLERANCE
        assert abs(record.meta["clip_score"]["scores"]["en"] - expected_scores[key]) <= TOLERANCE
        provenance = record.meta["features"]["clip_image"]
        assert provenance["model"] == "clip" and provenance["output"] == "image_embeds" and len(provenance["sha256"]) == 64
        assert record.features["pix"].shape == (48,)  # members of the input are kept
        assert {"xlmr_en", "xlmr_de", "xlmr_ja"} <= set(record.features)
    encoder = transformers.AutoModel.from_pretrained(checkpoints["xlmr"], local_files_only=True, add_pooling_layer=False).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoints["xlmr"], local_files_only=True)
    some = next(iter(written.values()))
    with torch.no_grad():
        states = encoder(**tokenizer([some.captions["de"].text], return_tensors="pt")).last_hidden_state[0]
    assert np.abs(some.features["xlmr_de"] - states.mean(dim=0).numpy()).max() <= TOLERANCE

    stats = shard_stats(folder, len(units))
    for unit, shard in zip(units, stats):  # per shard: inputs = samples + drops
        assert shard["inputs"] == len(unit.records) == shard["outputs"] + shard["dropped"]
    drops = Counter()
    for shard in stats:
        drops.update(shard["drops"])
    assert drops == {"features/clip_score": 10, "features/no_image": 1, "features/image_unreadable": 1}
    failures = [row for n in range(len(units)) for row in read_failures(folder, n)]
    assert {r["key"] for r in failures if r["reason"] == "clip_score"} == {k for k, s in expected_scores.items() if s < threshold}
    counters = Counter()
    for shard in stats:
        counters.update(shard["counters"])
    assert sum(count for _, count in histogram(counters, "en")) == 40  # every score, kept or dropped


def test_a_multilingual_tower_scores_each_language_and_removes_failing_captions(caption_shards, checkpoints, tmp_path):
    units = shard_units(caption_shards)
    settings = FeaturesConfig(clip={"checkpoint": checkpoints["altclip"], "text_languages": ["en", "de"], "image": False},
                              clip_score={"languages": ["en", "de"], "keep_fraction": {"en": 0.75, "de": 0.5}})
    folder = str(tmp_path / "caption")
    run_stage(units, settings, folder)
    stats = shard_stats(folder, len(units))
    for unit, shard in zip(units, stats):
        scored = len([r for r in unit.records if r.image is not None]) - (1 if any(r.key.startswith("broken") for r in unit.records) else 0)
        assert shard["inputs"] == shard["outputs"] + shard["dropped"]
        assert shard["drops"].get("features/clip_score", 0) == scored - -(-3 * scored // 4)  # the best 3/4 kept (no ties here)
    written = list(iter_records(folder))
    removed = sum(shard["counters"].get("clip_score/removed/de", 0) for shard in stats)
    assert removed > 0 and removed == sum(1 for r in written if "de" not in r.captions)
    for record in written:
        assert set(record.meta["clip_score"]["scores"]) == {"en", "de"} & set(record.captions)
        assert record.features["clip_text_en"].dtype == np.float16  # the default dtype
        assert ("clip_text_de" in record.features) == ("de" in record.captions)  # text features of kept captions only
        assert "clip_image" not in record.features


def raise_on_shard_one(units, models, settings):
    if any(unit.number == 1 for unit in units):
        raise RuntimeError("device lost (raised by the test on shard 1)")
    return compute_units(units, models, settings)


def test_a_shard_whose_model_raises_is_written_with_every_record_a_model_error(caption_shards, checkpoints, tmp_path):
    units = shard_units(caption_shards)
    settings = FeaturesConfig(clip={"checkpoint": checkpoints["clip"]})
    handler = StageModelHandler(STAGE, partial(load_feature_models, settings), partial(raise_on_shard_one, settings=settings),
                                max_batch_size=1)
    folder = str(tmp_path / "caption")
    with TestPipeline() as pipeline:
        stage = ModelStage(STAGE, handler, failed_shard, failures_to_main=True)
        (pipeline | beam.Create(units) | stage).main | WriteShardUnits(folder, "caption", len(units), "test", {})
    stats = shard_stats(folder, len(units))
    assert stats[1] == {**stats[1], "inputs": 16, "outputs": 0, "drops": {"features/model_error": 16}}
    details = {row["detail"] for row in read_failures(folder, 1)}
    assert len(details) == 1 and "device lost (raised by the test on shard 1)" in details.pop()
    assert stats[0]["outputs"] == 16 and stats[2]["inputs"] == 10
    assert [s.name for s in read_index(folder).shards] == ["shard-000000.tar", "shard-000002.tar"]
