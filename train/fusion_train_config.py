"""The training config of the fusion presets: part 1's ``TrainConfig`` with the
settings issue 9 adds, each where it belongs.

| where | added | what |
|---|---|---|
| ``tokenizer.kind`` | ``hybrid`` | SMALR's hybrid vocabulary (``path``: the artifact folder) |
| ``data.streams[].codeswitch`` | :class:`OnlineCodeSwitchConfig` | online code-switching of English captions at ratio α |
| ``model.fusion`` | :class:`FusionConfig` | fusion layers, never-masked ids, region classes, hybrid vocabulary |
| ``objectives[].fusion`` | :class:`FusionObjectiveConfig` | masking rates, negatives, TLM conditioning |
| ``eval.scorers`` etc. | see :class:`FusionEvalConfig` | ITM and consistency scoring |

Every field has a default, so a part 1 config is a valid fusion config. When part 1's
models carry these fields, these subclasses can go and the presets stay as they are.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from babelshard.configbase import load_model, parse_config, read_yaml
from babelshard.train.config import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    ObjectiveConfig,
    StreamConfig,
    TokenizerConfig,
    TrainConfig,
    apply_overrides,
)
from babelshard.train.fusion_config import FusionConfig, FusionObjectiveConfig, OnlineCodeSwitchConfig

Scorer = Literal["embedding", "itm", "consistency"]


class FusionTokenizerConfig(TokenizerConfig):
    kind: Literal["hash", "sentencepiece", "transformers", "hybrid"] = "hash"


class FusionStreamConfig(StreamConfig):
    codeswitch: OnlineCodeSwitchConfig | None = Field(None, description="caption streams: switch English captions online")


class FusionDataConfig(DataConfig):
    streams: list[FusionStreamConfig] = Field(min_length=1)


class FusionModelConfig(ModelConfig):
    fusion: FusionConfig = FusionConfig()


class FusionObjectiveSettings(ObjectiveConfig):
    fusion: FusionObjectiveConfig = FusionObjectiveConfig()


class FusionEvalConfig(EvalConfig):
    scorers: list[Scorer] = Field(default_factory=lambda: ["embedding"], min_length=1)
    translation_languages: list[str] | None = Field(None, description="consistency: default every evaluated language")
    query_weight: float | None = Field(None, ge=0, le=1, description="consistency: weight of the query itself; default the plain mean")
    itm_images: int | None = Field(100, ge=1, description="itm: score only the first N images (N² model passes per language)")


class FusionTrainConfig(TrainConfig):
    tokenizer: FusionTokenizerConfig = FusionTokenizerConfig()
    teacher_tokenizer: FusionTokenizerConfig | None = None
    data: FusionDataConfig
    model: FusionModelConfig = FusionModelConfig()
    objectives: list[FusionObjectiveSettings] = Field(min_length=1)
    eval: FusionEvalConfig | None = None


def load_fusion_config(path: str | Path, overrides: list[str] | None = None) -> FusionTrainConfig:
    if not overrides:
        return load_model(FusionTrainConfig, path)
    return parse_config(FusionTrainConfig, apply_overrides(read_yaml(path), overrides), source=str(path))
