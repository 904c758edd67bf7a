"""Every model and objective the trainer can build, by the ``kind`` of its config.

The kinds here are the kinds of the config unions (:mod:`model_config`,
:mod:`objective_config`); a new model or objective is a config class in the union and
a line here.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from babelshard.train.model_config import ModelConfig
from babelshard.train.models.dual_encoder import (
    Builder,
    VocabInfo,
    load_model_file_with,
    load_weights,
    read_model_file,
)
from babelshard.train.models.fusion import build_unified
from babelshard.train.models.mclip import build_mclip
from babelshard.train.models.mla import build_mla
from babelshard.train.models.pretrained_clip import build_clip_model
from babelshard.train.models.text_encoder import build_text_model
from babelshard.train.models.single_stream import build_m3p
from babelshard.train.models.smalr import build_smalr
from babelshard.train.objective_config import ObjectiveConfig
from babelshard.train.objectives.contrastive import (
    ImageTextContrastive,
    NativeLanguageTransfer,
    Objective,
    TextTextContrastive,
    TriangleDistillation,
    UnifiedContrastive,
)
from babelshard.train.objectives.matching import HardNegativeMatching, MaskedRegionModeling, RandomNegativeMatching
from babelshard.train.objectives.mlm import ConcatenatedMLM, MonolingualMLM, TranslationMLM, VisualMLM
from babelshard.train.objectives.translation import Translation

MODELS: dict[str, Builder] = {
    "clip": build_clip_model,
    "text": build_text_model,
    "mla": build_mla,
    "mclip": build_mclip,
    "unified": build_unified,
    "m3p": build_m3p,
    "smalr": build_smalr,
}

OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "itc": ImageTextContrastive,
    "le": ImageTextContrastive,
    "ucl": UnifiedContrastive,
    "ctl": TextTextContrastive,
    "nlt": NativeLanguageTransfer,
    "trikd": TriangleDistillation,
    "xmlm": MonolingualMLM,
    "vlm": VisualMLM,
    "mc_mlm": VisualMLM,
    "tlm": TranslationMLM,
    "tlm_concat": ConcatenatedMLM,
    "mclm": ConcatenatedMLM,
    "mc_vlm": RandomNegativeMatching,
    "itm_random": RandomNegativeMatching,
    "itm": HardNegativeMatching,
    "itm_hard": HardNegativeMatching,
    "mc_mrm": MaskedRegionModeling,
    "mrm": MaskedRegionModeling,
    "nmt": Translation,
}


def build_model(config: ModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo | None = None) -> nn.Module:
    """The builder of ``config.kind``; then ``config.init`` weights if given."""
    model = MODELS[config.kind](config, vocab, teacher_vocab or vocab)
    if config.init:
        load_weights(model, read_model_file(config.init)["state_dict"], config.init)
    return model


def build_objective(config: ObjectiveConfig) -> Objective:
    return OBJECTIVES[config.kind](config)


def load_model_file(path: str) -> tuple[nn.Module, ModelConfig, VocabInfo]:
    """A model of any kind from a model file or checkpoint: (model, its config, its vocabulary)."""
    return load_model_file_with(path, MODELS)
