"""Typed settings of the fusion-encoder models and their objectives (issue 9).

``FusionConfig`` shapes the fusion encoder of the ``unified``, ``m3p`` and ``smalr``
models; ``FusionObjectiveConfig`` the masking and matching objectives;
``OnlineCodeSwitchConfig`` a caption stream's online code-switching. This module imports
no trainer code, so part 1's ``train/config.py`` can nest these models without a cycle. Both default to
the papers' settings (15% masking, 80/10/10, 3 negatives per positive), so a preset
only writes what differs. ``ModelConfig.fusion``, ``ObjectiveConfig.fusion`` and
``StreamConfig.codeswitch`` nest them.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from babelshard.codeswitch.config import CodeSwitchConfig
from babelshard.configbase import StrictModel

# Token ids the hash tokenizer reserves (pad, begin, end, unknown): never masked.
DEFAULT_SPECIAL_IDS = (0, 1, 2, 3)


class FusionConfig(StrictModel):
    """The fusion layers above the unimodal encoders.

    ``layers``/``heads``/``mlp_ratio`` default to the text encoder's; ``None`` means
    "same as ``model.text``". The unified model's fusion layers have cross-attention;
    the single-stream (M3P) model runs its shared layers over text and patches together.
    """

    layers: int | None = Field(None, ge=1)
    heads: int | None = Field(None, ge=1)
    mlp_ratio: float | None = Field(None, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    special_ids: tuple[int, ...] = Field(DEFAULT_SPECIAL_IDS, description="token ids never masked (besides pad)")
    region_classes: int = Field(0, ge=0, description="MC-MRM: classes of region labels; 0: regression only")
    hybrid_vocab: str | None = Field(None, description="SMALR: the hybrid vocabulary artifact folder")


class FusionObjectiveConfig(StrictModel):
    """Masking and matching settings; the defaults are M3P's / unified mVLP's."""

    mask_probability: float = Field(0.15, gt=0, lt=1)
    mask_ratios: tuple[float, float, float] = Field((0.8, 0.1, 0.1), description="mask / random / keep")
    patch_mask_probability: float = Field(0.15, gt=0, lt=1)
    patch_zero_ratio: float = Field(0.9, ge=0, le=1, description="masked patches zeroed; the rest kept")
    negatives: int = Field(3, ge=1, description="mc_vlm: random negatives per positive (M3P: 3)")
    hard_temperature: float = Field(0.07, gt=0, description="itm: temperature of the hard-negative sampling")
    conditioning: Literal["cross", "concat"] = Field("cross", description="TLM: cross-attention or concatenation")
    regression_weight: float = Field(1.0, ge=0)
    classification_weight: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _ratios(self) -> "FusionObjectiveConfig":
        if min(self.mask_ratios) < 0 or abs(sum(self.mask_ratios) - 1.0) > 1e-6:
            raise ValueError(f"mask_ratios must be non-negative and sum to 1, got {self.mask_ratios}")
        return self


class OnlineCodeSwitchConfig(StrictModel):
    """A caption stream's online code-switching: the code-switch stage's lexicon settings
    and α, the share of English captions switched (M3P's D[C] : D[EN] mixing)."""

    lexicon: CodeSwitchConfig
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="share of English captions switched")
