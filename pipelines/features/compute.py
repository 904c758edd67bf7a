"""One shard through the model stages, as plain functions (no Beam).

:func:`compute_shard` takes a :class:`~babelshard.shards.bucket.ShardUnit` (records with
their images) and the loaded :class:`FeatureModels`, and returns the unit with:

1. every image decoded and passed through the image models in batches of
   ``batch_size``, in key order (an image that cannot be decoded, or a missing one, is
   a drop);
2. the CLIP score of each caption in the scored languages (texts batched by token
   length), its histogram in the unit's counters, and the drop rule applied;
3. the text embeddings of the kept captions (CLIP text tower per language, sentence
   encoder), batched by token length;
4. the arrays as ``.npy`` members and each model's name and weights checksum in the
   sample's ``json`` (``features``: member -> model, sha256, output; ``clip_score``:
   model, sha256, scores).

Records are sorted by key first, so the batches, and with them every byte written, are
the same on every run.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from babelshard.pipelines.features import models as M
from babelshard.pipelines.features.config import FeaturesConfig
from babelshard.pipelines.features.regions import class_text_embeddings, grid_members
from babelshard.pipelines.features.score import (
    REMOVED, STAGE, FeatureReason, cosine, cutoffs, failing_languages, histogram_counters,
)
from babelshard.records import ENGLISH, CaptionSample
from babelshard.shards.bucket import ShardUnit
from babelshard.stats import Drop, StageReason


@dataclass
class FeatureModels:
    """The loaded models of a :class:`FeaturesConfig` (``score`` is ``clip`` when both use one checkpoint)."""

    clip: M.LoadedModel | None = None
    score: M.LoadedModel | None = None
    sentence: M.LoadedModel | None = None
    grid: M.LoadedModel | None = None
    class_embeddings: np.ndarray | None = None


def load_feature_models(settings: FeaturesConfig) -> FeatureModels:
    """Every model the config names, once (what a worker process shares)."""
    models = FeatureModels()
    if settings.clip is not None:
        models.clip = M.load_clip(settings.clip.checkpoint, settings.device)
    score_path = settings.score_checkpoint
    if score_path is not None:
        same = settings.clip is not None and score_path == settings.clip.checkpoint
        models.score = models.clip if same else M.load_clip(score_path, settings.device)
    if settings.sentence is not None:
        models.sentence = M.load_sentence_encoder(settings.sentence.checkpoint, settings.device)
    if settings.grid is not None:
        grid = settings.grid
        models.grid = M.load_vision_backbone(grid.checkpoint, settings.device, with_text=bool(grid.classes))
        if grid.classes:
            models.class_embeddings = class_text_embeddings(models.grid, grid.classes, grid.prompt)
    return models


def clip_image_member(name: str, pooled: bool = False) -> str:
    return f"{name}_image_pooled" if pooled else f"{name}_image"


def clip_text_member(name: str, lang: str, pooled: bool = False) -> str:
    return f"{name}_text_pooled_{lang}" if pooled else f"{name}_text_{lang}"


def sentence_member(name: str, lang: str) -> str:
    return f"{name}_{lang}"


@dataclass
class ShardOutputs:
    """What the models gave a shard's records: arrays and provenance per key."""

    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    provenance: dict[str, dict[str, dict]] = field(default_factory=dict)
    image_embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # the score model's

    def add(self, key: str, member: str, array: np.ndarray, source: dict) -> None:
        self.arrays.setdefault(key, {})[member] = array
        self.provenance.setdefault(key, {})[member] = source


def needs_images(settings: FeaturesConfig) -> bool:
    return bool((settings.clip and settings.clip.image) or settings.clip_score or settings.grid)


def decode_batch(records: Sequence[CaptionSample]) -> tuple[list[CaptionSample], list[Any], list[Drop]]:
    kept, images, drops = [], [], []
    for record in records:
        if record.image is None:
            drops.append(Drop(record.key, STAGE, FeatureReason.NO_IMAGE, url=record.url))
            continue
        try:
            images.append(M.decode_image(record.image))
        except Exception as error:  # noqa: BLE001 - Pillow raises many kinds for bad bytes
            detail = re.sub(r" at 0x[0-9a-fA-F]+", "", f"{type(error).__name__}: {error}")  # same bytes on every run
            drops.append(Drop(record.key, STAGE, FeatureReason.IMAGE_UNREADABLE, detail[:300], record.url))
            continue
        kept.append(record)
    return kept, images, drops


def image_pass(records: list[CaptionSample], models: FeatureModels, settings: FeaturesConfig,
               out: ShardOutputs) -> tuple[list[CaptionSample], list[Drop]]:
    """Decode the images batch by batch and run every image model on each batch."""
    kept_all, drops = [], []
    for start in range(0, len(records), settings.batch_size):
        kept, images, bad = decode_batch(records[start:start + settings.batch_size])
        kept_all += kept
        drops += bad
        if kept:
            run_image_models(kept, images, models, settings, out)
    return kept_all, drops


def run_image_models(records: list[CaptionSample], images: list[Any], models: FeatureModels,
                     settings: FeaturesConfig, out: ShardOutputs) -> None:
    clip = settings.clip
    if clip is not None and clip.image:
        embeds, pooled = M.clip_image_outputs(models.clip, M.pixel_values(models.clip, images))
        for row, record in enumerate(records):
            out.add(record.key, clip_image_member(clip.name), embeds[row], models.clip.provenance("image_embeds"))
            if clip.pooled:
                out.add(record.key, clip_image_member(clip.name, True), pooled[row], models.clip.provenance("image_pooled"))
            if models.score is models.clip:
                out.image_embeddings[record.key] = embeds[row]
    shared = models.score is models.clip and clip is not None and clip.image
    if models.score is not None and not shared:
        embeds, _ = M.clip_image_outputs(models.score, M.pixel_values(models.score, images))
        out.image_embeddings.update({record.key: embeds[row] for row, record in enumerate(records)})
    if settings.grid is not None:
        pixels = M.pixel_values(models.grid, images)
        for record, members in zip(records, grid_members(models.grid, pixels, settings.grid, models.class_embeddings)):
            for member, (array, output) in members.items():
                out.add(record.key, member, array, models.grid.provenance(output))


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices sorted by (length, index), in chunks of ``batch_size``: texts of similar length together."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def by_length(loaded: M.LoadedModel, texts: Sequence[str], batch_size: int, max_length: int | None,
              forward: Callable[[list[str]], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """``forward`` over texts batched by token length; its outputs in the order of ``texts``."""
    if not texts:
        return ()
    results: list[list[np.ndarray] | None] = [None] * len(texts)
    for batch in length_batches(M.token_lengths(loaded, texts, max_length), batch_size):
        outputs = forward([texts[i] for i in batch])
        for row, index in enumerate(batch):
            results[index] = [output[row] for output in outputs]
    return tuple(np.stack([r[k] for r in results]) for k in range(len(results[0])))  # type: ignore[index]


def captions_in(records: Sequence[CaptionSample], languages: Sequence[str] | None) -> list[tuple[str, str, str]]:
    """(key, language, text) of every caption in ``languages`` (all when None), in record order."""
    return [(r.key, lang, r.captions[lang].text) for r in records for lang in sorted(r.captions)
            if languages is None or lang in languages]


def clip_scores(records: list[CaptionSample], models: FeatureModels, settings: FeaturesConfig,
                out: ShardOutputs) -> dict[str, dict[str, float]]:
    """key -> language -> image-text cosine, for the scored languages' captions."""
    score = settings.clip_score
    items = captions_in(records, score.languages)
    forward = lambda texts: M.clip_text_outputs(models.score, texts, score.max_length)[:1]  # noqa: E731
    found = by_length(models.score, [text for _, _, text in items], settings.text_batch_size, score.max_length, forward)
    scores: dict[str, dict[str, float]] = {r.key: {} for r in records}
    if items:
        images = np.stack([out.image_embeddings[key] for key, _, _ in items])
        for (key, lang, _), value in zip(items, cosine(images, found[0])):
            scores[key][lang] = float(value)
    return scores


def apply_score_rule(records: list[CaptionSample], scores: dict[str, dict[str, float]], settings: FeaturesConfig,
                     models: FeatureModels) -> tuple[list[CaptionSample], list[Drop], dict[str, int]]:
    """The drop rule: a failing English caption (or no caption left) drops the sample; any
    other failing caption is removed. Scores go into each kept sample's metadata."""
    limits = cutoffs(scores, settings.clip_score)
    counters = histogram_counters(scores, settings.clip_score.histogram_step)
    kept, drops = [], []
    for record in records:
        failing = failing_languages(scores[record.key], limits)
        remaining = {lang: c for lang, c in record.captions.items() if lang not in failing}
        if ENGLISH in failing or not remaining:
            detail = ", ".join(f"{lang} {scores[record.key][lang]:.4f} < {limits[lang]:.4f}" for lang in failing)
            drops.append(Drop(record.key, STAGE, FeatureReason.CLIP_SCORE, detail, record.url))
            continue
        for lang in failing:
            counters[f"{REMOVED}/{lang}"] = counters.get(f"{REMOVED}/{lang}", 0) + 1
        kept_scores = {lang: round(value, 6) for lang, value in sorted(scores[record.key].items()) if lang in remaining}
        meta = {**record.meta, "clip_score": {**models.score.provenance("cosine"), "scores": kept_scores}}
        kept.append(dataclasses.replace(record, captions=remaining, meta=meta))
    return kept, drops, counters


def text_pass(records: list[CaptionSample], models: FeatureModels, settings: FeaturesConfig, out: ShardOutputs) -> None:
    """CLIP text embeddings and sentence embeddings of the kept captions."""
    clip, sentence = settings.clip, settings.sentence
    if clip is not None and clip.text_languages:
        items = captions_in(records, clip.text_languages)
        forward = lambda texts: M.clip_text_outputs(models.clip, texts, clip.max_length)  # noqa: E731
        found = by_length(models.clip, [t for _, _, t in items], settings.text_batch_size, clip.max_length, forward)
        for row, (key, lang, _) in enumerate(items):
            out.add(key, clip_text_member(clip.name, lang), found[0][row], models.clip.provenance("text_embeds"))
            if clip.pooled:
                out.add(key, clip_text_member(clip.name, lang, True), found[1][row], models.clip.provenance("text_pooled"))
    if sentence is not None:
        items = captions_in(records, sentence.languages)
        forward = lambda texts: (M.sentence_embeddings(models.sentence, texts, sentence.pooling, sentence.max_length),)  # noqa: E731
        found = by_length(models.sentence, [t for _, _, t in items], settings.text_batch_size, sentence.max_length, forward)
        for row, (key, lang, _) in enumerate(items):
            out.add(key, sentence_member(sentence.name, lang), found[0][row], models.sentence.provenance(f"sentence_{sentence.pooling}"))


def with_features(record: CaptionSample, out: ShardOutputs, dtype: str) -> CaptionSample:
    arrays = {member: np.asarray(array, dtype=dtype) for member, array in out.arrays.get(record.key, {}).items()}
    if not arrays:
        return record
    provenance = {**record.meta.get("features", {}), **out.provenance[record.key]}
    return dataclasses.replace(record, features={**record.features, **arrays}, meta={**record.meta, "features": provenance})


def compute_shard(unit: ShardUnit, models: FeatureModels, settings: FeaturesConfig) -> ShardUnit:
    """The shard's records with their features (see the module doc), its drops and counters."""
    records = sorted(unit.records, key=lambda r: r.key)
    drops, counters, out = list(unit.drops), dict(unit.counters), ShardOutputs()
    if needs_images(settings):
        records, bad = image_pass(records, models, settings, out)
        drops += bad
    if settings.clip_score is not None:
        scores = clip_scores(records, models, settings, out)
        records, filtered, histogram = apply_score_rule(records, scores, settings, models)
        drops += filtered
        for name, count in histogram.items():
            counters[name] = counters.get(name, 0) + count
    text_pass(records, models, settings, out)
    return ShardUnit(unit.number, [with_features(r, out, settings.dtype) for r in records], drops, counters)


def failed_shard(unit: ShardUnit, message: str) -> list[ShardUnit]:
    """A shard whose model batch raised: every record a ``model_error`` drop; the shard is still written."""
    failed = [Drop(r.key, STAGE, StageReason.MODEL_ERROR, message[:300], r.url) for r in unit.records]
    return [ShardUnit(unit.number, [], list(unit.drops) + failed, dict(unit.counters))]
