"""The training config: one frozen, typed model, loaded once from YAML.

``TrainConfig`` is standalone (not nested in the build job's config): a training run
reads shard folders that some build job wrote, wherever they are. Batch sizes are per
process; the global batch is ``batch_size * world_size * accum_steps``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, model_validator

from babelshard.configbase import ConfigError, StrictModel, apply_overrides, load_model, parse_config, read_yaml
from babelshard.train.fusion_config import FusionConfig, FusionObjectiveConfig, OnlineCodeSwitchConfig


class TokenizerConfig(StrictModel):
    """``hash``: words (``textnorm.tokenize_words``) hashed into ``vocab_size`` ids, a
    dependency-free fallback; ``sentencepiece``: a ``.model`` file (the vocab artifact or
    a user's, e.g. XLM-R's); ``transformers``: a local tokenizer directory; ``hybrid``:
    SMALR's hybrid vocabulary (``path``: the artifact folder, :mod:`babelshard.train.models.smalr`)."""

    kind: Literal["hash", "sentencepiece", "transformers", "hybrid"] = "hash"
    path: str | None = None
    vocab_size: int = Field(8192, ge=8, description="hash tokenizer only")
    max_length: int = Field(32, ge=4)
    lowercase: bool = True

    @model_validator(mode="after")
    def _path_when_needed(self) -> "TokenizerConfig":
        if self.kind != "hash" and not self.path:
            raise ValueError(f"tokenizer kind {self.kind!r} needs a path")
        return self


class ImageConfig(StrictModel):
    size: int = Field(32, ge=4, description="side of the square crop fed to the model")
    resize: int | None = Field(None, description="shorter side before cropping; default size")
    random_crop: bool = Field(False, description="random resized crop (training); else center crop")
    scale: tuple[float, float] = (0.7, 1.0)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    background: tuple[int, int, int] = Field((255, 255, 255), description="fill for transparent pixels")
    draft: bool = Field(False, description="decode JPEGs at a reduced DCT scale when larger than needed (faster)")


class StreamConfig(StrictModel):
    """One stream of the mixer: shard folders of one kind and the sub-batch it gives per step."""

    name: str
    kind: Literal["caption", "parallel", "text"]
    folders: list[str] = Field(min_length=1)
    batch_size: int = Field(ge=1)
    languages: list[str] | None = Field(None, description="caption languages to sample; default all")
    language_weights: dict[str, float] | str | None = Field(
        None, description="weights per language, or a weights file; default the folder's weights.json"
    )
    language_alpha: float | None = Field(None, gt=0, le=1, description="q_i ∝ p_i^alpha from the index counts")
    variants: dict[Literal["caption", "codeswitched"], float] = Field(default_factory=lambda: {"caption": 1.0})
    image: ImageConfig | None = Field(None, description="decode images (caption streams)")
    features: str | None = Field(None, description="a precomputed feature member, e.g. 'clip' for clip.npy")
    teacher_tokens: bool = Field(False, description="also tokenize the English side with the teacher tokenizer")
    pair_languages: list[str] | None = Field(None, description="parallel stream: target languages to keep")
    resample: bool = Field(True, description="draw shards with replacement (OpenCLIP --dataset-resampled)")
    interleave: int = Field(4, ge=1, description="shards read at once per folder and worker")
    shuffle: bool = True
    verify: bool = Field(False, description="check each shard's sha256 against the index")
    holdout: float = Field(0.0, ge=0, lt=1, description="leave out this fraction of samples, chosen by key hash")
    codeswitch: OnlineCodeSwitchConfig | None = Field(None, description="caption streams: switch English captions online")
    region_labels: str | None = Field(None, description="caption streams: region class member, e.g. 'regions' for regions.npy")

    @model_validator(mode="after")
    def _check(self) -> "StreamConfig":
        if self.kind == "caption" and self.image is None and self.features is None:
            raise ValueError(f"caption stream {self.name!r} needs image or features")
        if not self.variants or min(self.variants.values()) < 0 or sum(self.variants.values()) <= 0:
            raise ValueError("variants need non-negative weights with a positive sum")
        return self


class DataConfig(StrictModel):
    streams: list[StreamConfig] = Field(min_length=1)
    samples_per_epoch: int | None = Field(None, ge=1, description="budget of the first stream; default its index total")
    workers: int = Field(0, ge=0)
    prefetch: int = Field(2, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _unique(self) -> "DataConfig":
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique: {names}")
        return self


class TextEncoderConfig(StrictModel):
    width: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    pool: Literal["mean", "first", "last"] = "mean"


class VisionConfig(StrictModel):
    kind: Literal["vit", "features"] = "vit"
    image_size: int = 32
    patch_size: int = 8
    width: int = 64
    layers: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    pool: Literal["mean", "first"] = "mean"
    feature_dim: int | None = Field(None, description="features kind: size of the .npy vector")
    feature: str | None = Field(None, description="features kind: the member name, e.g. 'clip'")


class ModelConfig(StrictModel):
    """``kind`` names a builder in ``babelshard.train.models.dual_encoder.MODELS``."""

    kind: str = "clip"
    embed_dim: int = Field(64, ge=4)
    text: TextEncoderConfig = TextEncoderConfig()
    vision: VisionConfig = VisionConfig()
    teacher: str | None = Field(None, description="frozen English image-text model (a babelshard model file)")
    init: str | None = Field(None, description="start from this babelshard model or checkpoint file")
    languages: list[str] = Field(default_factory=list, description="MLA: one language acquirer each")
    bottleneck: int = Field(32, ge=1, description="MLA: acquirer hidden size")
    encoder: str | None = Field(
        None, description="mCLIP: frozen multilingual encoder: a transformers directory or a babelshard model file"
    )
    projector_layers: int = Field(2, ge=1, description="mCLIP: X-projector transformer layers")
    fusion: FusionConfig = FusionConfig()


class ObjectiveConfig(StrictModel):
    """``kind`` names a class in ``babelshard.train.objectives.contrastive.OBJECTIVES``."""

    kind: str
    stream: str
    weight: float = 1.0
    temperature: float = Field(0.07, gt=0)
    learnable_temperature: bool = True
    ttc_weight: float = Field(0.1, ge=0, description="TriKD: lambda of the text-text term")
    normalize: bool = Field(False, description="NLT: compare unit-normalised embeddings")
    fusion: FusionObjectiveConfig = FusionObjectiveConfig()


class OptimConfig(StrictModel):
    name: Literal["adamw", "lamb"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["constant", "linear", "inverse_sqrt", "cosine"] = "linear"
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0)
    accum_steps: int = Field(1, ge=1)


class LoopConfig(StrictModel):
    output: str = Field(description="folder for checkpoints, metrics.jsonl and model.pt")
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="train this many optimizer steps at most (sets the schedule)")
    stop_at_step: int | None = Field(
        None, ge=1, description="stop here with a checkpoint, schedule unchanged; a rerun resumes (preemptible runs)"
    )
    checkpoint_every: int = Field(0, ge=0, description="optimizer steps; 0: only at the end of each epoch")
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(1, ge=1)
    resume: Literal["auto", "never"] | str = Field("auto", description="auto: latest checkpoint in output")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 autocast applies on CUDA only")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch intra-op threads")
    progress: bool = True
    find_unused_parameters: bool = True


class EvalConfig(StrictModel):
    folders: list[str] = Field(min_length=1)
    languages: list[str] | None = Field(None, description="default: every caption language in the shards")
    image: ImageConfig = ImageConfig()
    features: str | None = None
    batch_size: int = Field(256, ge=1)
    holdout: float | None = Field(None, gt=0, lt=1, description="only the samples a stream's holdout leaves out")
    output: str | None = Field(None, description="JSON file for the results; default <loop.output>/eval.json")
    scorers: list[Literal["embedding", "itm", "consistency"]] | None = Field(
        None, min_length=1, description="fusion presets: results per scorer; default part 1's embedding evaluation"
    )
    translation_languages: list[str] | None = Field(None, description="consistency: default every evaluated language")
    query_weight: float | None = Field(None, ge=0, le=1, description="consistency: weight of the query itself; default the plain mean")
    itm_images: int | None = Field(100, ge=1, description="itm: score only the first N images (N² model passes per language)")


class TrainConfig(StrictModel):
    name: str = "train"
    tokenizer: TokenizerConfig = TokenizerConfig()
    teacher_tokenizer: TokenizerConfig | None = Field(None, description="default: the tokenizer")
    data: DataConfig
    model: ModelConfig = ModelConfig()
    objectives: list[ObjectiveConfig] = Field(min_length=1)
    optim: OptimConfig = OptimConfig()
    loop: LoopConfig
    eval: EvalConfig | None = None

    @model_validator(mode="after")
    def _objective_streams(self) -> "TrainConfig":
        streams = {s.name for s in self.data.streams}
        for objective in self.objectives:
            if objective.stream not in streams:
                raise ValueError(f"objective {objective.kind!r} reads unknown stream {objective.stream!r}")
        return self


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    if not overrides:
        return load_model(TrainConfig, path)
    return parse_config(TrainConfig, apply_overrides(read_yaml(path), overrides), source=str(path))


def train_config_from(data: Mapping[str, Any]) -> TrainConfig:
    return parse_config(TrainConfig, dict(data))
