"""The dual-encoder (CLIP-style) model, the text-only model and babelshard model files.

Every model answers ``encode_image(inputs)`` (an :class:`ImageInputs`, e.g. a caption
batch) and ``encode_text(tokens, languages)`` (unnormalised embeddings); models with a
frozen teacher also answer ``encode_teacher_text(tokens)``. Objectives only talk to
models through such methods, so a new model registers its builder in
:mod:`babelshard.train.registry` and provides the methods its objectives call.

A model file (``model.pt``) holds the model config, the vocabulary shape it was built
for and the weights; a checkpoint holds the whole training config instead. Both load
with :func:`load_model_file_with` (any kind: ``registry.load_model_file``), weights-only
(:mod:`babelshard.train.files`): a file that would run code is refused.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from babelshard.configbase import parse_config
from babelshard.errors import UserError
from babelshard.train.files import UnreadableTrainerFile, load_plain, require_keys, save_plain
from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import ClipModelConfig, ModelConfig, TextModelConfig, ViTConfig, own_options
from babelshard.train.models.encoders import FeatureEncoder, TextTransformer, TinyViT

MODEL_FILE_FORMAT = "babelshard-model"


@dataclass(frozen=True)
class VocabInfo:
    """What a text encoder needs to know about its tokenizer."""

    size: int
    max_length: int
    pad_id: int
    english_offset: int | None = None  # rows hold English in the teacher's vocabulary from here (MLA)

    @classmethod
    def of(cls, tokenizer: Any) -> "VocabInfo":
        offset = getattr(tokenizer, "english_offset", None)
        return cls(int(tokenizer.vocab_size), int(tokenizer.max_length), int(tokenizer.pad_id),
                   None if offset is None else int(offset))


# (model config of the builder's kind, vocabulary, teacher's vocabulary) -> model
Builder = Callable[[Any, VocabInfo, VocabInfo], nn.Module]


def freeze(module: nn.Module) -> nn.Module:
    """No gradients and always in eval mode (see :class:`FrozenAware`)."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    module.eval()
    module._babelshard_frozen = True  # type: ignore[attr-defined]
    return module


class ModelFileMismatch(UserError):
    """A model file of another kind or vocabulary than the one asked for, or whose weights
    do not fit the model its config builds."""


class FrozenAware(nn.Module):
    """``train()`` leaves frozen submodules in eval mode (no dropout in a teacher)."""

    def train(self, mode: bool = True) -> "FrozenAware":
        super().train(mode and not getattr(self, "_babelshard_frozen", False))
        for module in self.modules():
            if module is not self and getattr(module, "_babelshard_frozen", False):
                nn.Module.train(module, False)
        return self


class TeacherStudent(FrozenAware):
    """A student beside a frozen English image-text teacher (MLA, mCLIP): images and the
    teacher's text embeddings come from the teacher, without gradients."""

    teacher: "ClipModel"

    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        with torch.no_grad():
            return self.teacher.encode_image(inputs)

    def encode_teacher_text(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.teacher.encode_text(tokens)


class ClipModel(FrozenAware):
    """Image tower (tiny ViT or precomputed features) and text tower with linear projections."""

    def __init__(self, config: ClipModelConfig, vocab: VocabInfo):
        super().__init__()
        self.reads_pixels = isinstance(config.vision, ViTConfig)
        self.visual = TinyViT(config.vision) if self.reads_pixels else FeatureEncoder(config.vision)
        self.text = TextTransformer(vocab.size, vocab.max_length, vocab.pad_id, config.text)
        self.image_proj = nn.Linear(self.visual.width, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(config.text.width, config.embed_dim, bias=False)

    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        return self.image_proj(self.visual(inputs.image if self.reads_pixels else inputs.features))

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text_proj(self.text(tokens))


def build_clip(config: ClipModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    return ClipModel(config, vocab)


class TextModel(FrozenAware):
    """A text tower with a projection and no image side (CTL, mCLIP's text-encoder stage)."""

    def __init__(self, config: TextModelConfig, vocab: VocabInfo):
        super().__init__()
        self.text = TextTransformer(vocab.size, vocab.max_length, vocab.pad_id, config.text)
        self.text_proj = nn.Linear(config.text.width, config.embed_dim, bias=False)

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text_proj(self.text(tokens))


def build_text(config: TextModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    return TextModel(config, vocab)


def save_model_file(path: str, model: nn.Module, config: ModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> None:
    payload = {
        "format": MODEL_FILE_FORMAT,
        "version": 1,
        "model": config.model_dump(mode="json"),
        "vocab": asdict(vocab),
        "teacher_vocab": asdict(teacher_vocab),
        "state_dict": model.state_dict(),
    }
    save_plain(path, payload)


def read_model_file(path: str) -> dict[str, Any]:
    """A model file, or a checkpoint seen as one (its model config, vocab and weights)."""
    data = load_plain(path, "model file")
    if data.get("format") == MODEL_FILE_FORMAT:
        require_keys(data, ("model", "vocab", "teacher_vocab", "state_dict"), path, "model file")
        return data
    if "config" in data and "model" in data and "vocab" in data:
        if not isinstance(data["config"], dict) or "model" not in data["config"]:
            raise UnreadableTrainerFile(f"{path}: a checkpoint without a model config")
        return {
            "model": data["config"]["model"],
            "vocab": data["vocab"],
            "teacher_vocab": data.get("teacher_vocab", data["vocab"]),
            "state_dict": data["model"],
        }
    raise UnreadableTrainerFile(f"{path}: neither a babelshard model file nor a checkpoint")


def load_weights(model: nn.Module, state_dict: Any, path: str) -> None:
    """``state_dict`` into ``model``, every key and shape matching; else one line naming the file."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError, AttributeError) as error:
        problems = [line.strip() for line in str(error).splitlines()[1:] if line.strip()] or [str(error)]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        first = problems[0] if len(problems[0]) <= 300 else problems[0][:300] + "..."
        raise ModelFileMismatch(f"{path}: its weights do not fit the configured model: {first}{more}") from None


def vocab_info(data: dict[str, Any], key: str, path: str) -> VocabInfo:
    try:
        return VocabInfo(**data[key])
    except TypeError:
        raise UnreadableTrainerFile(f"{path}: {key} is not a vocabulary (size, max_length, pad_id)") from None


def load_model_file_with(path: str, builders: Mapping[str, Builder]) -> tuple[nn.Module, ModelConfig, VocabInfo]:
    """A model file (or checkpoint) built by its kind's builder, which ``builders`` must have."""
    data = read_model_file(path)
    config = parse_config(ModelConfig, own_options(data["model"]), source=path)
    if config.kind not in builders:
        raise ModelFileMismatch(f"{path}: a {config.kind!r} model, expected {' or '.join(repr(k) for k in builders)}")
    vocab, teacher_vocab = vocab_info(data, "vocab", path), vocab_info(data, "teacher_vocab", path)
    model = builders[config.kind](config.model_copy(update={"init": None}), vocab, teacher_vocab)
    load_weights(model, data["state_dict"], path)
    return model, config, vocab


def load_frozen_teacher(path: str, expected: VocabInfo) -> ClipModel:
    """A trained CLIP-style model as a frozen teacher; its vocabulary must match the
    teacher tokenizer's."""
    model, _, vocab = load_model_file_with(path, {"clip": build_clip})
    if (vocab.size, vocab.pad_id) != (expected.size, expected.pad_id):
        raise ModelFileMismatch(
            f"{path}: teacher was trained with a vocabulary of {vocab.size} (pad {vocab.pad_id}), "
            f"the teacher tokenizer has {expected.size} (pad {expected.pad_id}); set teacher_tokenizer"
        )
    return freeze(model)  # type: ignore[return-value]
