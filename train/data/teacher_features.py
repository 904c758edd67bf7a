"""A frozen teacher's precomputed outputs in a caption sample (``.npy`` members written by
the model stages, :mod:`babelshard.pipelines.features`), checked against the teacher the
run is configured with.

Each member's provenance in the sample's ``json`` (``features``: member -> model, sha256,
output) must carry the configured teacher's weights checksum and the output kind the
model reads (``image_embeds`` / ``text_embeds``, or ``image_pooled`` / ``text_pooled`` for
a trainable CLIP projector): features of another model would train the student towards
the wrong targets without any error, so a mismatch stops the run with one line
(:class:`TeacherFeaturesMismatch`). A sample without the member is a decode error, counted
like any other.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from babelshard.errors import UserError
from babelshard.records import CaptionView, feature_member
from babelshard.train.data.decode import DecodeError
from babelshard.train.stream_config import TeacherFeaturesConfig


class TeacherFeaturesMismatch(UserError):
    """Precomputed teacher features of another model, or of another output than the model reads."""


def _short(checksum: Any) -> str:
    return f"{str(checksum)[:12]}..." if checksum else "none"


def teacher_member(view: CaptionView, member: str, side: str, settings: TeacherFeaturesConfig) -> np.ndarray:
    """The member as float32, after its provenance is checked (``side``: image or text)."""
    if not view.has_feature(member):
        raise DecodeError(f"no {feature_member(member)} member (teacher_features.{side})")
    where = f"{view.url or view.key}: {feature_member(member)}"
    source: Mapping[str, Any] | None = view.meta.get("features", {}).get(member)
    if source is None:
        raise TeacherFeaturesMismatch(f"{where} has no provenance (model, sha256) in the sample's json; "
                                      "compute it with babelshard features")
    if settings.sha256 is not None and source.get("sha256") != settings.sha256:
        raise TeacherFeaturesMismatch(
            f"{where} was computed by {source.get('model')} (weights sha256 {_short(source.get('sha256'))}), not by the "
            f"configured teacher (sha256 {_short(settings.sha256)}): recompute the features with it, or configure the "
            "teacher that made them")
    expected = f"{side}_{settings.output}" if settings.output else None
    if expected is not None and source.get("output") != expected:
        raise TeacherFeaturesMismatch(f"{where} holds the teacher's {source.get('output')}, the model reads {expected}: "
                                      f"set teacher_features.{side} to the member with {expected}")
    return np.asarray(view.feature(member), dtype=np.float32).reshape(-1)


def read_teacher_features(view: CaptionView, settings: TeacherFeaturesConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """(image output, the English caption's text output or None) of the sample."""
    image = teacher_member(view, settings.image, "image", settings)
    text = teacher_member(view, settings.text, "text", settings) if settings.text else None
    return image, text


def expected_teacher(model: Any) -> tuple[str, str]:
    """(sha256 of the configured teacher's weights, the output kind the model reads)."""
    from babelshard.checkpoints import weights_checksum
    from babelshard.train.checkpoint_config import HFClipCheckpoint

    teacher = getattr(model, "teacher", None)
    if teacher is None:
        raise TeacherFeaturesMismatch(f"teacher_features: a {model.kind!r} model has no frozen teacher to read them for")
    if not isinstance(teacher, HFClipCheckpoint):
        raise TeacherFeaturesMismatch("teacher_features: the features are a Hugging Face CLIP's (babelshard features); "
                                      "set model.teacher to that checkpoint ({kind: hf_clip, path: ...})")
    return weights_checksum(teacher.path), "pooled" if getattr(model, "train_clip_projector", False) else "embeds"


def resolve_teacher_features(streams: list, model: Any) -> list:
    """The streams with each ``teacher_features``' checksum and output filled in from the model config."""
    resolved = []
    for stream in streams:
        settings = getattr(stream, "teacher_features", None)
        if settings is not None and (settings.sha256 is None or settings.output is None):
            checksum, output = expected_teacher(model)
            settings = settings.model_copy(update={"sha256": settings.sha256 or checksum, "output": settings.output or output})
            stream = stream.model_copy(update={"teacher_features": settings})
        resolved.append(stream)
    return resolved
