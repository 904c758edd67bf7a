"""Config of the model stages: frozen-teacher features, the CLIP-score filter and
region/grid features, each a frozen model nested in :class:`FeaturesConfig`.

Every checkpoint is a local directory saved by the library's ``save_pretrained``
(nothing is downloaded): a ``CLIPModel`` or ``AltCLIPModel`` (whose text tower is
multilingual), an ``XLMRobertaModel`` (or another transformers text encoder), and for
grid features a CLIP or ViT vision checkpoint.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from babelshard.configbase import StrictModel

MEMBER_NAME = r"^[a-z][a-z0-9_]*$"


class ClipFeaturesConfig(StrictModel):
    """Frozen CLIP embeddings: ``<name>_image.npy`` per image and ``<name>_text_<lang>.npy``
    per caption language (with ``pooled``, also the features before the projections:
    ``<name>_image_pooled.npy``, ``<name>_text_pooled_<lang>.npy``, what a trainable copy of
    the projections reads, as mCLIP's CLIP projector does)."""

    checkpoint: str = Field(description="a CLIPModel or AltCLIPModel directory (config.json, weights, tokenizer, preprocessor_config.json)")
    name: str = Field("clip", pattern=MEMBER_NAME, description="member prefix")
    image: bool = Field(True, description="embed the image")
    text_languages: list[str] = Field(
        default_factory=lambda: ["en"], description="caption languages to embed with the text tower (more than English "
        "only with a multilingual text tower: AltCLIP)"
    )
    pooled: bool = Field(False, description="also write the pooled features before the projections")
    max_length: int | None = Field(None, ge=4, description="text tokens (truncated); default the model's positions")


class SentenceFeaturesConfig(StrictModel):
    """Sentence embeddings of a text encoder (XLM-R): ``<name>_<lang>.npy`` per caption language."""

    checkpoint: str = Field(description="a transformers text encoder directory (XLMRobertaModel, BertModel) with its tokenizer")
    name: str = Field("xlmr", pattern=MEMBER_NAME, description="member prefix")
    languages: list[str] | None = Field(None, description="caption languages to embed; default every caption of the sample")
    pooling: Literal["mean", "first"] = Field("mean", description="mean of the token states under the mask, or the first token's")
    max_length: int | None = Field(None, ge=4, description="tokens per text (truncated); default the model's positions")


class ClipScoreConfig(StrictModel):
    """Image-text cosine of each caption (``clip_score`` in the sample's metadata, a
    histogram per language in the shard stats), and a drop rule per language: below
    ``threshold``, or outside the best ``keep_fraction`` of the shard.

    A sample whose English caption fails is dropped (reason ``clip_score``); another
    language's caption that fails is removed from the sample and counted as
    ``clip_score/removed/<lang>`` in the shard stats.
    """

    checkpoint: str | None = Field(None, description="a CLIPModel or AltCLIPModel directory; default clip.checkpoint")
    languages: list[str] = Field(default_factory=lambda: ["en"], description="caption languages to score")
    threshold: dict[str, float] = Field(default_factory=dict, description="language -> lowest cosine kept")
    keep_fraction: dict[str, float] = Field(
        default_factory=dict, description="language -> the best fraction of each shard's captions kept (ties kept)"
    )
    histogram_step: float = Field(0.05, gt=0, le=1, description="width of the histogram's bins of cosine")
    max_length: int | None = Field(None, ge=4, description="text tokens (truncated); default the model's positions")

    @model_validator(mode="after")
    def _rules(self) -> "ClipScoreConfig":
        both = sorted(set(self.threshold) & set(self.keep_fraction))
        if both:
            raise ValueError(f"threshold and keep_fraction both set for {both}: choose one rule per language")
        unscored = sorted((set(self.threshold) | set(self.keep_fraction)) - set(self.languages))
        if unscored:
            raise ValueError(f"rules for languages that are not scored: {unscored}; add them to languages")
        bad = {lang: f for lang, f in self.keep_fraction.items() if not 0 < f <= 1}
        if bad:
            raise ValueError(f"keep_fraction must be in (0, 1], got {bad}")
        return self


class GridFeaturesConfig(StrictModel):
    """A vision backbone's grid: one region per patch (``<name>.npy`` [k, d], the last
    hidden states), its box (``<name>_box.npy``: normalised x1 y1 x2 y2 and area), and with
    ``classes`` and a CLIP checkpoint a class distribution per patch (``<name>_cls.npy``:
    softmax of the projected patch states against the class names' text embeddings)."""

    checkpoint: str = Field(description="a CLIPModel, CLIPVisionModel or ViTModel directory with preprocessor_config.json")
    name: str = Field("regions", pattern=MEMBER_NAME, description="member prefix")
    classes: list[str] | None = Field(None, description="class names for the per-region class distribution (CLIP only)")
    prompt: str = Field("{}", description="text around each class name, e.g. 'a photo of a {}'")
    max_regions: int | None = Field(None, ge=1, description="keep the first this many patches (row by row); default all")


class FeaturesConfig(StrictModel):
    """The model stages of a caption job or of ``babelshard features`` (shard to shard)."""

    input_folder: str | None = Field(None, description="caption shard folder for `babelshard features` (or --input)")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="cpu, cuda or cuda:N")
    batch_size: int = Field(32, ge=1, description="images per forward pass")
    text_batch_size: int = Field(64, ge=1, description="texts per forward pass (texts of similar length together)")
    dtype: Literal["float16", "float32"] = Field("float16", description="dtype of the .npy members")
    clip: ClipFeaturesConfig | None = None
    sentence: SentenceFeaturesConfig | None = None
    clip_score: ClipScoreConfig | None = None
    grid: GridFeaturesConfig | None = None

    @model_validator(mode="after")
    def _something(self) -> "FeaturesConfig":
        if not (self.clip or self.sentence or self.clip_score or self.grid):
            raise ValueError("features: configure at least one of clip, sentence, clip_score, grid")
        if self.clip_score is not None and self.clip_score.checkpoint is None and self.clip is None:
            raise ValueError("clip_score.checkpoint: needed when there is no clip section to take it from")
        names = [s.name for s in (self.clip, self.sentence, self.grid) if s is not None]
        if len(names) != len(set(names)):
            raise ValueError(f"member prefixes must differ, got {names}")
        return self

    @property
    def score_checkpoint(self) -> str | None:
        if self.clip_score is None:
            return None
        return self.clip_score.checkpoint or (self.clip.checkpoint if self.clip else None)
