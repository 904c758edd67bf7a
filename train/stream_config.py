"""Typed settings of the mixer's streams: one model per stream kind, chosen by ``kind``.

``StreamConfig`` is the union of :class:`CaptionStreamConfig`, :class:`TextStreamConfig`
and :class:`ParallelStreamConfig`, discriminated on ``kind``: each kind holds only
the options it uses, so a caption-only option on a text stream fails when the YAML is
parsed, naming the key. This module imports no trainer code (no torch).
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from babelshard.codeswitch.config import CodeSwitchConfig
from babelshard.configbase import StrictModel


class RandAugmentConfig(StrictModel):
    """RandAugment: ``num_ops`` operations from the standard list, at ``magnitude`` (0-30)."""

    num_ops: int = Field(2, ge=1, description="N: operations per image")
    magnitude: int = Field(9, ge=0, le=30, description="M: the strength of every operation")


class ImageConfig(StrictModel):
    size: int = Field(32, ge=4, description="side of the square crop fed to the model")
    resize: int | None = Field(None, description="shorter side before cropping; default size")
    random_crop: bool = Field(False, description="random resized crop (training); else center crop")
    scale: tuple[float, float] = (0.7, 1.0)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    background: tuple[int, int, int] = Field((255, 255, 255), description="fill for transparent pixels")
    draft: bool = Field(False, description="decode JPEGs at a reduced DCT scale when larger than needed (faster)")
    resample: Literal["nearest", "bilinear", "bicubic", "lanczos"] = Field("bicubic", description="resize filter")
    randaugment: RandAugmentConfig | None = Field(None, description="RandAugment after the crop (training streams)")
    processor: str | None = Field(
        None, description="a checkpoint directory whose preprocessor_config.json sets size, crop, mean, std and "
        "resampling (and the processor's exact resize); default: filled in from the model's CLIP checkpoint"
    )

    @model_validator(mode="after")
    def _processor_alone(self) -> "ImageConfig":
        fields = type(self).model_fields
        clash = [name for name in PROCESSOR_SETS if self.processor and getattr(self, name) != fields[name].default]
        if clash:
            raise ValueError(f"processor {self.processor} sets {', '.join(clash)}; leave them out")
        return self


# What a checkpoint's processor config decides (ImageConfig.processor).
PROCESSOR_SETS = ("size", "resize", "mean", "std", "resample")


class OnlineCodeSwitchConfig(StrictModel):
    """A caption stream's online code-switching: the code-switch stage's lexicon settings
    and α, the share of English captions switched (M3P's D[C] : D[EN] mixing)."""

    lexicon: CodeSwitchConfig
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="share of English captions switched")


class RegionMembersConfig(StrictModel):
    """Region or grid features of each image, as ``.npy`` members of the caption shards (a
    detector's boxes or a CNN/ViT grid, computed by a data job): one row per region."""

    features: str = Field("regions", description="[k, d] features: 'regions' reads regions.npy")
    boxes: str | None = Field(None, description="[k, b] box geometry (e.g. regions_box: normalised x1 y1 x2 y2 area)")
    classes: str | None = Field(None, description="[k, C] the detector's class distribution (e.g. regions_cls)")
    max_regions: int = Field(100, ge=1, description="keep the first this many regions of an image")


class StreamSettings(StrictModel):
    """What every stream has: shard folders of one kind and the sub-batch it gives per step."""

    name: str
    folders: list[str] = Field(min_length=1)
    batch_size: int = Field(ge=1)
    language_weights: dict[str, float] | str | None = Field(
        None, description="weights per language, or a weights.json file; default the folder's weights.json"
    )
    language_alpha: float | None = Field(None, gt=0, le=1, description="q_i ∝ p_i^alpha from the index counts")
    resample: bool = Field(True, description="draw shards with replacement (OpenCLIP --dataset-resampled)")
    interleave: int = Field(4, ge=1, description="shards read at once per folder and worker")
    shuffle: bool = True
    verify: bool = Field(False, description="check each shard's sha256 against the index")
    holdout: float = Field(0.0, ge=0, lt=1, description="leave out this fraction of samples, chosen by key hash")
    max_length: int | None = Field(
        None, ge=4, description="tokens per text of this stream; default (and at most) tokenizer.max_length"
    )


class CaptionStreamConfig(StreamSettings):
    """Image (or features) and one caption per sample, in a sampled language or code-switched."""

    kind: Literal["caption"] = "caption"
    languages: list[str] | None = Field(None, description="caption languages to sample; default all")
    variants: dict[Literal["caption", "codeswitched"], float] = Field(default_factory=lambda: {"caption": 1.0})
    image: ImageConfig | None = Field(None, description="decode images")
    features: str | None = Field(None, description="a precomputed feature member, e.g. 'clip' for clip.npy")
    teacher_tokens: bool = Field(False, description="also tokenize the English side with the teacher tokenizer")
    codeswitch: OnlineCodeSwitchConfig | None = Field(None, description="switch English captions online")
    region_labels: str | None = Field(None, description="a class per image patch (pixel models), e.g. 'labels' for labels.npy")
    regions: RegionMembersConfig | None = Field(None, description="decode region or grid features (M3P)")
    captions_per_image: int = Field(
        1, ge=1, description="rows per image: the sampled caption and further captions of the same image (its other "
        "languages' and extra captions, repeated when it has fewer), for multi-positive objectives; batch_size counts images"
    )

    @model_validator(mode="after")
    def _check(self) -> "CaptionStreamConfig":
        if self.image is None and self.features is None and self.regions is None:
            raise ValueError(f"caption stream {self.name!r} needs image, features or regions")
        if not self.variants or min(self.variants.values()) < 0 or sum(self.variants.values()) <= 0:
            raise ValueError("variants need non-negative weights with a positive sum")
        return self


class TextStreamConfig(StreamSettings):
    """Monolingual sentences (text shards), one folder per language."""

    kind: Literal["text"] = "text"


class ParallelStreamConfig(StreamSettings):
    """Translation pairs: from parallel shards, or English and another caption of one image."""

    kind: Literal["parallel"] = "parallel"
    pair_languages: list[str] | None = Field(None, description="target languages to keep")


StreamConfig = Annotated[Union[CaptionStreamConfig, TextStreamConfig, ParallelStreamConfig], Field(discriminator="kind")]
