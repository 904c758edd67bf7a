"""Precomputed teacher features: a TriKD run (mCLIP on a tiny CLIP and XLM-R) that reads the
teacher's outputs from the shards gives the losses of the run that computes them (same
seed, float32 features), and features of another model or output stop the run in one line."""
from __future__ import annotations

import os

import pytest

from babelshard.pipelines.jobs.config import JobConfig
from babelshard.pipelines.jobs.features import run_features
from babelshard.train.data.teacher_features import TeacherFeaturesMismatch
from babelshard.train.loop.metrics import read_metrics
from babelshard.train.loop.steps import train
from babelshard.train.models.tiny_checkpoints import save_tiny_clip

STEPS = 6


@pytest.fixture(scope="module")
def teacher_shards(toy, checkpoints, tmp_path_factory) -> str:
    """The toy caption shards with the tiny CLIP's pooled image and English text features (float32)."""
    output = str(tmp_path_factory.mktemp("teacher-features"))
    features = {"clip": {"checkpoint": checkpoints["clip"], "pooled": True, "max_length": 16}, "dtype": "float32"}
    run_features(JobConfig.model_validate({"output": {"folder": output}, "features": features}), toy["caption"])
    return os.path.join(output, "caption")


def trikd(preset, checkpoints, folder: str, output: str, *extra: str):
    clip, xlmr = checkpoints["clip"], checkpoints["xlmr"]
    return preset("mclip", output, f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.encoder={xlmr}",
                  "model.text.heads=2", f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}",
                  f"teacher_tokenizer={{kind: transformers, path: {clip}, max_length: 16}}",
                  f"data.streams.0.folders=[{folder}]", "data.streams.0.languages=[en,de,fr]", "eval=null",
                  "optim.warmup_steps=0", "optim.lr=0.003", f"loop.max_steps={STEPS}", *extra)


def loss_terms(output: str) -> list[tuple[float, float, float]]:
    return [(r["loss"], r["trikd/itc"], r["trikd/ttc"]) for r in read_metrics(os.path.join(output, "metrics.jsonl"))]


FROM_SHARDS = ["data.streams.0.image=null", "data.streams.0.teacher_tokens=false",
               "data.streams.0.teacher_features={image: clip_image_pooled, text: clip_text_pooled_en}"]


def test_reading_the_teachers_features_gives_the_losses_of_running_it(preset, checkpoints, teacher_shards, tmp_path):
    running = str(tmp_path / "running")
    train(trikd(preset, checkpoints, teacher_shards, running, "data.streams.0.image={random_crop: false}"))
    reading = str(tmp_path / "reading")
    train(trikd(preset, checkpoints, teacher_shards, reading, *FROM_SHARDS))
    ran, read = loss_terms(running), loss_terms(reading)
    assert len(ran) == len(read) == STEPS and any(ttc > 0 for _, _, ttc in ran)
    for step, (a, b) in enumerate(zip(ran, read)):
        assert all(abs(x - y) <= 1e-4 * max(1.0, abs(x)) for x, y in zip(a, b)), (step, a, b)


def test_features_of_another_teacher_or_output_are_refused_in_one_line(preset, checkpoints, teacher_shards, tmp_path):
    other = save_tiny_clip(str(tmp_path / "other-clip"), seed=7)
    config = trikd(preset, checkpoints, teacher_shards, str(tmp_path / "a"), *FROM_SHARDS,
                   f"model.teacher={{kind: hf_clip, path: {other}}}")
    with pytest.raises(TeacherFeaturesMismatch, match=r"clip_image_pooled.npy was computed by clip \(weights sha256 "
                                                      r"[0-9a-f]{12}\.\.\.\), not by the configured teacher"):
        train(config)
    embeds = trikd(preset, checkpoints, teacher_shards, str(tmp_path / "b"), *FROM_SHARDS,
                   "data.streams.0.teacher_features={image: clip_image, text: clip_text_en}")
    with pytest.raises(TeacherFeaturesMismatch, match="clip_image.npy holds the teacher's image_embeds, the model reads "
                                                      "image_pooled"):
        train(embeds)
    no_projector = trikd(preset, checkpoints, teacher_shards, str(tmp_path / "c"), *FROM_SHARDS,
                         "model.train_clip_projector=false")
    with pytest.raises(TeacherFeaturesMismatch, match="holds the teacher's image_pooled, the model reads image_embeds"):
        train(no_projector)
    for error in (TeacherFeaturesMismatch("x"),):
        assert "\n" not in str(error)
