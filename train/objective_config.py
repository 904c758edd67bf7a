"""Typed settings of the objectives: one model per objective family, chosen by ``kind``.

``ObjectiveConfig`` is the union of the families below, discriminated on ``kind``;
each holds only its own options (a masked LM has a masking rate, a matching objective
its negatives), so a stray option or an unknown kind fails when the YAML is parsed,
naming the key. :data:`READS` says which stream kinds each objective can read; the
training config checks it against the stream the objective names. The objectives
themselves are registered in :mod:`babelshard.train.registry`. The defaults are the
papers' settings (15% masking, 80/10/10, 3 negatives per positive).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from babelshard.configbase import StrictModel, parse_config

CAPTION, TEXT, PARALLEL = "caption", "text", "parallel"
READS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("itc", "le", "ucl", "trikd", "vlm", "mc_mlm", "mc_vlm", "itm_random", "itm", "itm_hard", "mc_mrm", "mrm"), (CAPTION,)),
    **dict.fromkeys(("ctl", "nlt", "tlm", "tlm_concat", "mclm", "nmt"), (PARALLEL,)),
    "xmlm": (TEXT, CAPTION),  # a caption stream's captions read as sentences
}


class ObjectiveSettings(StrictModel):
    """What every objective has: the stream it reads and its weight in the step's loss."""

    stream: str
    weight: float = 1.0

    @property
    def stream_kinds(self) -> tuple[str, ...]:
        return READS[self.kind]  # type: ignore[attr-defined]

    @property
    def other_streams(self) -> dict[str, tuple[str, ...]]:
        """Streams read besides ``stream``, with the stream kinds each may be."""
        return {}


MULTI_POSITIVE = Field(
    False, description="rows of one image (same key: a caption stream's captions_per_image) are all positives"
)


class ContrastiveConfig(ObjectiveSettings):
    """Symmetric InfoNCE: image-text (``itc``, ``le``) or translation pairs (``ctl``)."""

    kind: Literal["itc", "le", "ctl"]
    temperature: float = Field(0.07, gt=0)
    learnable_temperature: bool = True
    multi_positive: bool = MULTI_POSITIVE


class UnifiedContrastiveConfig(ObjectiveSettings):
    """Unified mVLP's UCL: one InfoNCE over the image-caption pairs of ``stream`` and the
    translation pairs of ``pair_stream`` together, with one temperature."""

    kind: Literal["ucl"]
    pair_stream: str | None = Field(None, description="parallel stream whose pairs join the image-caption pairs")
    temperature: float = Field(0.07, gt=0)
    learnable_temperature: bool = True
    symmetric: bool = Field(False, description="also the reverse direction, averaged (the paper's Eq. 1 has one)")

    @property
    def other_streams(self) -> dict[str, tuple[str, ...]]:
        return {self.pair_stream: (PARALLEL,)} if self.pair_stream else {}


class NativeTransferConfig(ObjectiveSettings):
    """MLA's NLT: MSE of the student's translation embedding against the teacher's English one."""

    kind: Literal["nlt"]
    normalize: bool = Field(False, description="compare unit-normalised embeddings")


class TriangleDistillationConfig(ObjectiveSettings):
    """mCLIP's TriKD: ITC against the teacher's images + λ·TTC against its English text."""

    kind: Literal["trikd"]
    temperature: float = Field(0.07, gt=0)
    learnable_temperature: bool = True
    ttc_weight: float = Field(0.1, ge=0, description="lambda of the text-text term")
    ttc_temperature: float = Field(0.07, gt=0, description="the text-text term's temperature, fixed")
    multi_positive: bool = MULTI_POSITIVE


class TranslationConfig(ObjectiveSettings):
    """NMT on translation pairs through the text model's decoder (mCLIP's text-encoder stages)."""

    kind: Literal["nmt"]
    direction: Literal["to_english", "from_english", "both"] = Field(
        "both", description="to_english: decode the English side from the other; from_english: the reverse"
    )


class MaskedLMConfig(ObjectiveSettings):
    """BERT masking of the text (xMLM, VLM / MC-MLM, TLM by concatenation, SMALR's MCLM)."""

    kind: Literal["xmlm", "vlm", "mc_mlm", "tlm_concat", "mclm"]
    mask_probability: float = Field(0.15, gt=0, lt=1)
    mask_ratios: tuple[float, float, float] = Field((0.8, 0.1, 0.1), description="mask / random / keep")

    @model_validator(mode="after")
    def _ratios(self) -> "MaskedLMConfig":
        if min(self.mask_ratios) < 0 or abs(sum(self.mask_ratios) - 1.0) > 1e-6:
            raise ValueError(f"mask_ratios must be non-negative and sum to 1, got {self.mask_ratios}")
        return self


class TranslationMLMConfig(MaskedLMConfig):
    """TLM: each side masked, conditioned on the other by cross-attention or concatenation."""

    kind: Literal["tlm"]  # type: ignore[assignment]
    conditioning: Literal["cross", "concat"] = Field("cross", description="cross-attention or concatenation")


class RandomMatchingConfig(ObjectiveSettings):
    """M3P's MC-VLM: image-caption matching against random negatives; pretraining makes a
    negative by replacing the image or the caption of a pair with another sample's."""

    kind: Literal["mc_vlm", "itm_random"]
    negatives: int = Field(3, ge=1, description="random negatives per positive")
    replace: Literal["image_or_text", "text"] = Field(
        "image_or_text", description="image_or_text: each negative replaces the image or the caption, even odds "
        "(pretraining); text: the caption only (retrieval fine-tuning ranks captions for an image)"
    )


class HardMatchingConfig(ObjectiveSettings):
    """Unified mVLP's ITM with in-batch hard negatives drawn by contrastive similarity."""

    kind: Literal["itm", "itm_hard"]
    hard_temperature: float = Field(0.07, gt=0, description="temperature of the hard-negative sampling")


class RegionModelingConfig(ObjectiveSettings):
    """M3P's MC-MRM: regress masked regions' input features (region or grid features; a
    pixel model's patch pixels), and classify them where the shards carry the detector's
    class distributions (or patch labels)."""

    kind: Literal["mc_mrm", "mrm"]
    patch_mask_probability: float = Field(0.15, gt=0, lt=1)
    patch_zero_ratio: float = Field(0.9, ge=0, le=1, description="masked patches zeroed; the rest kept")
    regression_weight: float = Field(1.0, ge=0)
    classification_weight: float = Field(1.0, ge=0)
    class_loss: Literal["ce", "kl"] = Field(
        "ce", description="against the detector's distribution: ce with its most likely class (M3P), or kl to the whole distribution"
    )


OBJECTIVE_CONFIGS: tuple[type[ObjectiveSettings], ...] = (
    ContrastiveConfig, UnifiedContrastiveConfig, NativeTransferConfig, TriangleDistillationConfig, MaskedLMConfig,
    TranslationMLMConfig, RandomMatchingConfig, HardMatchingConfig, RegionModelingConfig, TranslationConfig,
)
ObjectiveConfig = Annotated[
    Union[ContrastiveConfig, UnifiedContrastiveConfig, NativeTransferConfig, TriangleDistillationConfig, MaskedLMConfig,
          TranslationMLMConfig, RandomMatchingConfig, HardMatchingConfig, RegionModelingConfig, TranslationConfig],
    Field(discriminator="kind"),
]


def objective_config(**options: Any) -> ObjectiveSettings:
    """The objective config of ``options["kind"]`` (as a YAML ``objectives`` item would give it)."""
    return parse_config(ObjectiveConfig, options, source="objective")  # type: ignore[arg-type]
