"""Typed settings of the models: one model per model kind, chosen by ``kind``.

``ModelConfig`` is the union of the kinds below, discriminated on ``kind``; each holds
only the options its model reads, so a stray option (``languages`` on a ``clip``
model) or an unknown kind fails when the YAML is parsed, naming the key. Image towers
are a union too (``VisionConfig``: ``vit`` or ``features``), and so are pretrained
checkpoints (:mod:`checkpoint_config`: ``hf_clip``, ``open_clip``, ``hf_text``). The models themselves are
registered in :mod:`babelshard.train.registry`. This module imports no torch.

| kind | model | options besides ``init`` |
|---|---|---|
| ``clip`` | dual encoder, or a pretrained CLIP | ``embed_dim``, ``text``, ``vision``; or ``checkpoint`` |
| ``text`` | text tower only (CTL, NMT) | ``embed_dim``, ``text``; or ``checkpoint`` (XLM-R); ``decoder``, ``freeze_encoder`` |
| ``mla`` | MLA acquirers on a frozen English teacher | ``teacher``, ``languages``, ``bottleneck``, ``embeddings``, ``extend`` |
| ``mclip`` | mCLIP projectors on a frozen encoder and teacher | ``teacher``, ``encoder``, ``text``, ``projector_layers``, ``projector_pool``, ``train_clip_projector`` |
| ``unified`` | text encoder + cross-attention fusion layers + ViT | ``embed_dim``, ``text``, ``vision``, ``fusion``; or ``text_checkpoint`` (XLM-R split into text and fusion layers), ``text_layers``, ``image_checkpoint`` |
| ``m3p`` | single stream over tokens and patches or regions | ``embed_dim``, ``languages``, ``text``, ``vision`` (``vit`` or ``regions``), ``fusion``; ``text_checkpoint`` (XLM-R) |
| ``smalr`` | hybrid embedding + text encoder + ViT | ``embed_dim``, ``text``, ``vision``, ``hybrid_vocab`` |
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import Field, model_validator

from babelshard.configbase import StrictModel, parse_config
from babelshard.train.checkpoint_config import ClipCheckpoint, HFClipCheckpoint, HFTextCheckpoint, image_processor_path

# Token ids the hash tokenizer reserves (pad, begin, end, unknown): never masked.
DEFAULT_SPECIAL_IDS = (0, 1, 2, 3)


class TextEncoderConfig(StrictModel):
    width: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    pool: Literal["mean", "first", "last"] = "mean"


class ViTConfig(StrictModel):
    """A tiny ViT over image patches."""

    kind: Literal["vit"] = "vit"
    image_size: int = 32
    patch_size: int = 8
    width: int = 64
    layers: int = 2
    heads: int = 4
    mlp_ratio: float = 4.0
    pool: Literal["mean", "first"] = "mean"

    @model_validator(mode="after")
    def _whole_patches(self) -> "ViTConfig":
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        return self


class FeatureTowerConfig(StrictModel):
    """An MLP over precomputed image features (the caption stream's ``features`` member)."""

    kind: Literal["features"] = "features"
    feature_dim: int = Field(ge=1, description="size of the .npy vector")
    width: int = 64


VisionConfig = Annotated[Union[ViTConfig, FeatureTowerConfig], Field(discriminator="kind")]


class RegionFeatureConfig(StrictModel):
    """Region or grid features from the shards (the caption stream's ``regions``), one
    input position per region: features and box geometry each embedded and normalised."""

    kind: Literal["regions"] = "regions"
    feature_dim: int = Field(2048, ge=1, description="width of the region features (a Faster R-CNN's: 2048)")
    box_dim: int = Field(0, ge=0, description="width of the box geometry (e.g. 5: x1 y1 x2 y2 area); 0: none")
    classes: int = Field(0, ge=0, description="detector classes in the class distributions; 0: no class objective")


RegionVisionConfig = Annotated[Union[ViTConfig, RegionFeatureConfig], Field(discriminator="kind")]


class HFVisionCheckpoint(StrictModel):
    """A transformers image encoder directory: ``ViTModel`` or ``CLIPVisionModel``."""

    kind: Literal["hf_vision"] = "hf_vision"
    path: str = Field(description="a ViTModel or CLIPVisionModel directory with its preprocessor_config.json")


def _default_vision_kind(data: Any) -> Any:
    """``vision`` without a ``kind`` is a ViT (configs written before the union)."""
    if isinstance(data, Mapping) and isinstance(data.get("vision"), Mapping) and "kind" not in data["vision"]:
        data = {**data, "vision": {**data["vision"], "kind": "vit"}}
    return data


class FusionConfig(StrictModel):
    """The fusion layers above the unimodal encoders; ``None`` means "as ``model.text``"."""

    layers: int | None = Field(None, ge=1)
    heads: int | None = Field(None, ge=1)
    mlp_ratio: float | None = Field(None, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    special_ids: tuple[int, ...] = Field(DEFAULT_SPECIAL_IDS, description="token ids never masked (besides pad)")


class SingleStreamFusionConfig(FusionConfig):
    """M3P's shared layers, and the classes of MC-MRM's region labels."""

    region_classes: int = Field(0, ge=0, description="MC-MRM: classes of region labels; 0: regression only")


class ModelSettings(StrictModel):
    init: str | None = Field(None, description="start from this babelshard model or checkpoint file")


def unused_with_checkpoint(config: StrictModel, checkpoint: object, options: tuple[str, ...]) -> None:
    """A pretrained checkpoint fixes the architecture: the options that would shape it keep their defaults."""
    if checkpoint is None:
        return
    fields = type(config).model_fields
    clash = sorted(name for name in options if getattr(config, name) != fields[name].get_default(call_default_factory=True))
    if clash:
        raise ValueError(f"{', '.join(clash)} cannot be set with a checkpoint (it fixes the architecture)")


class ClipModelConfig(ModelSettings):
    kind: Literal["clip"] = "clip"
    embed_dim: int = Field(64, ge=4)
    text: TextEncoderConfig = TextEncoderConfig()
    vision: VisionConfig = ViTConfig()
    checkpoint: ClipCheckpoint | None = Field(None, description="a pretrained CLIP instead of the small towers")

    @model_validator(mode="after")
    def _checkpoint_alone(self) -> "ClipModelConfig":
        unused_with_checkpoint(self, self.checkpoint, ("embed_dim", "text", "vision"))
        return self


class NmtDecoderConfig(StrictModel):
    """A transformer decoder over the text encoder's states (mCLIP's NMT stage), trained from scratch."""

    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = Field(4.0, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)


class TextModelConfig(ModelSettings):
    kind: Literal["text"] = "text"
    embed_dim: int = Field(64, ge=4)
    text: TextEncoderConfig = TextEncoderConfig()
    checkpoint: HFTextCheckpoint | None = Field(
        None, description="a pretrained text encoder (XLM-R) instead of the small one; sentences pooled by text.pool, "
        "no projection"
    )
    freeze_encoder: bool = Field(False, description="train only the decoder (mCLIP's NMT-decoder stage)")
    decoder: NmtDecoderConfig | None = Field(None, description="a translation decoder for the nmt objective")

    @model_validator(mode="after")
    def _checkpoint_alone(self) -> "TextModelConfig":
        unused_with_checkpoint(self, self.checkpoint, ("embed_dim",))
        if self.checkpoint is not None and self.text.model_copy(update={"pool": "mean"}) != TextEncoderConfig():
            raise ValueError("with a checkpoint only text.pool applies")
        if self.freeze_encoder and self.decoder is None:
            raise ValueError("freeze_encoder leaves nothing to train without a decoder")
        return self


class MlaModelConfig(ModelSettings):
    kind: Literal["mla"] = "mla"
    teacher: str | ClipCheckpoint = Field(
        description="frozen English image-text model: a pretrained CLIP (hf_clip) or a trained 'clip' model file"
    )
    languages: list[str] = Field(min_length=1, description="the non-English languages, one language acquirer each")
    bottleneck: int = Field(32, ge=1, description="acquirer hidden size")
    embeddings: str | None = Field(
        None, description="initialise the non-native embeddings from this transformers checkpoint's word embeddings "
        "(M-BERT), with a linear projection into the teacher's width; default the teacher's own (shared vocabulary)"
    )
    extend: str | None = Field(
        None, description="a trained MLA model file: its embeddings and acquirers are loaded and frozen, and the "
        "languages it lacks get a new acquirer and their own copy of the non-native embeddings"
    )


class MclipModelConfig(ModelSettings):
    kind: Literal["mclip"] = "mclip"
    teacher: str | ClipCheckpoint = Field(
        description="frozen English image-text model: a pretrained CLIP (hf_clip) or a trained 'clip' model file"
    )
    encoder: str | None = Field(
        None, description="frozen multilingual encoder: a transformers directory or a babelshard model file; "
        "default a trainable text transformer shaped by text"
    )
    text: TextEncoderConfig = Field(TextEncoderConfig(), description="the projector's heads; the default encoder")
    projector_layers: int = Field(2, ge=1, description="X-projector transformer layers")
    projector_pool: Literal["last", "mean"] = Field("last", description="X-projector pooling: the end token, or the mean")
    train_clip_projector: bool = Field(
        True, description="train copies of the teacher's image and text projections (the CLIP projector)"
    )


class UnifiedModelConfig(ModelSettings):
    kind: Literal["unified"] = "unified"
    embed_dim: int = Field(64, ge=4)
    text: TextEncoderConfig = TextEncoderConfig(pool="first")
    vision: ViTConfig = ViTConfig()
    fusion: FusionConfig = FusionConfig()
    text_checkpoint: HFTextCheckpoint | None = Field(
        None, description="XLM-R (or BERT): its lower text_layers layers are the text encoder, the rest the fusion "
        "encoder, whose cross-attention starts as a copy of each layer's self-attention"
    )
    text_layers: int | None = Field(None, ge=1, description="layers of text_checkpoint in the text encoder; default half")
    image_checkpoint: HFClipCheckpoint | HFVisionCheckpoint | None = Field(
        None, description="the image encoder: a CLIPModel's vision tower (hf_clip) or a ViTModel / CLIPVisionModel (hf_vision)"
    )

    @model_validator(mode="after")
    def _checkpoints_alone(self) -> "UnifiedModelConfig":
        unused_with_checkpoint(self, self.image_checkpoint, ("vision",))
        if self.text_checkpoint is not None and (self.text.model_fields_set - {"pool"} or self.fusion.model_fields_set):
            raise ValueError("with text_checkpoint only text.pool applies (the checkpoint fixes the text and fusion layers)")
        if self.text_checkpoint is None and (self.text_layers is not None or self.image_checkpoint is not None):
            raise ValueError("text_layers and image_checkpoint need text_checkpoint")
        return self

    @model_validator(mode="before")
    @classmethod
    def _first_token_pooling(cls, data: Any) -> Any:
        """The text embedding is the first token's state ([CLS] / ``<s>``) unless
        ``text.pool`` says otherwise (model files saved before say ``mean``)."""
        if isinstance(data, Mapping) and isinstance(data.get("text"), Mapping) and "pool" not in data["text"]:
            data = {**data, "text": {**data["text"], "pool": "first"}}
        return data


class M3pModelConfig(ModelSettings):
    kind: Literal["m3p"] = "m3p"
    embed_dim: int = Field(64, ge=4)
    languages: list[str] = Field(default_factory=list, description="languages with their own embedding; others share one")
    text: TextEncoderConfig = TextEncoderConfig()
    vision: RegionVisionConfig = ViTConfig()
    fusion: SingleStreamFusionConfig = SingleStreamFusionConfig()
    text_checkpoint: HFTextCheckpoint | None = Field(
        None, description="XLM-R: its embeddings and layers are the shared single-stream transformer"
    )

    @model_validator(mode="before")
    @classmethod
    def _vision_kind(cls, data: Any) -> Any:
        return _default_vision_kind(data)

    @model_validator(mode="after")
    def _checkpoint_alone(self) -> "M3pModelConfig":
        if self.text_checkpoint is not None and (self.text.model_fields_set or self.fusion.model_fields_set - {"region_classes"}):
            raise ValueError("with text_checkpoint, text and fusion settings come from the checkpoint")
        return self


class SmalrModelConfig(ModelSettings):
    kind: Literal["smalr"] = "smalr"
    embed_dim: int = Field(64, ge=4)
    text: TextEncoderConfig = TextEncoderConfig()
    vision: VisionConfig = Field(ViTConfig(), description="a small ViT, or an MLP over precomputed image features")
    hybrid_vocab: str = Field(description="the hybrid vocabulary artifact folder")

    @model_validator(mode="before")
    @classmethod
    def _vision_kind(cls, data: Any) -> Any:
        return _default_vision_kind(data)


MODEL_CONFIGS: dict[str, type[ModelSettings]] = {
    "clip": ClipModelConfig,
    "text": TextModelConfig,
    "mla": MlaModelConfig,
    "mclip": MclipModelConfig,
    "unified": UnifiedModelConfig,
    "m3p": M3pModelConfig,
    "smalr": SmalrModelConfig,
}
ModelConfig = Annotated[
    Union[ClipModelConfig, TextModelConfig, MlaModelConfig, MclipModelConfig, UnifiedModelConfig, M3pModelConfig, SmalrModelConfig],
    Field(discriminator="kind"),
]


def own_options(data: Mapping[str, Any]) -> dict[str, Any]:
    """A model config as saved by a version that stored every kind's options (most of
    them unused) in one model: the options of its own kind. Configs saved since pass
    through unchanged."""
    kind = data.get("kind", "clip")
    model = MODEL_CONFIGS.get(kind)
    if model is None:
        return dict(data)
    options = {k: v for k, v in data.items() if k in model.model_fields}
    if kind == "smalr" and "hybrid_vocab" not in options:
        options["hybrid_vocab"] = (data.get("fusion") or {}).get("hybrid_vocab")
    if isinstance(options.get("vision"), Mapping):
        towers = {"features": FeatureTowerConfig, "regions": RegionFeatureConfig}
        tower = towers.get(options["vision"].get("kind"), ViTConfig)
        options["vision"] = {k: v for k, v in options["vision"].items() if k in tower.model_fields}
    if isinstance(options.get("fusion"), Mapping):
        fields = model.model_fields["fusion"].annotation.model_fields
        options["fusion"] = {k: v for k, v in options["fusion"].items() if k in fields}
    return options


def image_checkpoint(model: Mapping[str, Any]) -> str | None:
    """The checkpoint directory a (raw) model section takes its images from: a CLIP
    ``checkpoint`` or checkpoint ``teacher`` of the hf_clip kind, or a unified model's
    ``image_checkpoint`` (hf_clip or hf_vision)."""
    if model.get("kind") == "unified":
        source = model.get("image_checkpoint")
        return str(source["path"]) if isinstance(source, Mapping) and source.get("path") else None
    source = model.get("checkpoint") if model.get("kind", "clip") == "clip" else model.get("teacher")
    if not isinstance(source, Mapping) or source.get("kind", "hf_clip") != "hf_clip":
        return None
    return image_processor_path(parse_config(ClipCheckpoint, dict(source), source="model"))  # type: ignore[arg-type]


def model_config(**options: Any) -> ModelSettings:
    """The model config of ``options["kind"]`` (as the YAML's ``model`` section would give it)."""
    return parse_config(ModelConfig, options, source="model")  # type: ignore[arg-type]
