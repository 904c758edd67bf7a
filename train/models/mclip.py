"""mCLIP: a frozen CLIP and a frozen multilingual text encoder, aligned by two light
projectors trained with triangle distillation (TriKD).

The teacher is a pretrained CLIP (``hf_clip``) or a trained small ``clip`` model file; its
towers stay frozen. The CLIP projector is a trainable copy of the teacher's image and
text projections (``train_clip_projector``). The multilingual encoder (MTE) is a local
``transformers`` directory (XLM-R in the paper), a babelshard model file whose text tower
is used (the enhanced MTE of the ``text`` kind's NMT + CTL stages, or a small model
trained with CTL), or, when none is given, a fresh trainable text transformer. The
X-projector is ``projector_layers`` transformer layers over the encoder's token states,
pooled at the end token (``projector_pool``) and projected to the teacher's embedding size.
"""
from __future__ import annotations

import copy
import os
from typing import Sequence

import torch
from torch import nn

from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import MclipModelConfig
from babelshard.train.models.backbones import HFTextEncoder
from babelshard.train.models.dual_encoder import ClipModel, TeacherStudent, VocabInfo, build_clip, freeze, load_model_file_with
from babelshard.train.models.encoders import TextTransformer, make_block, pool_states
from babelshard.train.models.pretrained_clip import PretrainedClipModel, load_teacher
from babelshard.train.models.text_encoder import build_text_model


def _heads(width: int, wanted: int) -> int:
    return next(h for h in range(min(wanted, width), 0, -1) if width % h == 0)


class XProjector(nn.Module):
    def __init__(self, width: int, heads: int, layers: int, embed_dim: int, pool: str = "last"):
        super().__init__()
        self.blocks = nn.ModuleList(make_block(width, _heads(width, heads), 4.0) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim, bias=False)
        self.pool = pool

    def forward(self, states: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            states = block(states, src_key_padding_mask=pad_mask)
        return self.proj(pool_states(self.norm(states), pad_mask, self.pool))


def teacher_projections(teacher: ClipModel | PretrainedClipModel) -> tuple[nn.Module, nn.Module]:
    if isinstance(teacher, ClipModel):
        return teacher.image_proj, teacher.text_proj
    return teacher.image_projection, teacher.text_projection


def trainable_copy(module: nn.Module) -> nn.Module:
    clone = copy.deepcopy(module)
    clone.__dict__.pop("_babelshard_frozen", None)
    for parameter in clone.parameters():
        parameter.requires_grad_(True)
    return clone


class MCLIPModel(TeacherStudent):
    def __init__(self, teacher: ClipModel | PretrainedClipModel, encoder: nn.Module, pad_id: int, config: MclipModelConfig):
        super().__init__()
        self.teacher, self.encoder, self.pad_id = teacher, encoder, pad_id
        self.clip_projector = None
        if config.train_clip_projector:
            image_proj, text_proj = teacher_projections(teacher)
            self.clip_projector = nn.ModuleDict({"image": trainable_copy(image_proj), "text": trainable_copy(text_proj)})
        embed_dim = teacher.text_proj.out_features if isinstance(teacher, ClipModel) else teacher.text.embed_dim
        self.projector = XProjector(encoder.width, config.text.heads, config.projector_layers, embed_dim, config.projector_pool)

    @property
    def encoder_frozen(self) -> bool:
        return bool(getattr(self.encoder, "_babelshard_frozen", False))

    def _image_features(self, inputs: ImageInputs) -> torch.Tensor:
        teacher = self.teacher
        if isinstance(teacher, ClipModel):
            return teacher.visual(inputs.image if teacher.reads_pixels else inputs.features)
        return teacher.image_features(inputs)

    def _text_features(self, tokens: torch.Tensor) -> torch.Tensor:
        teacher = self.teacher
        return teacher.text(tokens) if isinstance(teacher, ClipModel) else teacher.text_features(tokens)

    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        if self.clip_projector is None:
            return super().encode_image(inputs)
        with torch.no_grad():
            features = self._image_features(inputs)
        return self.clip_projector["image"](features)

    def encode_teacher_text(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.clip_projector is None:
            return super().encode_teacher_text(tokens)
        with torch.no_grad():
            features = self._text_features(tokens)
        return self.clip_projector["text"](features)

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.encoder_frozen):
            states = self.encoder.token_states(tokens)
        return self.projector(states, tokens == self.pad_id)


def build_encoder(config: MclipModelConfig, vocab: VocabInfo) -> nn.Module:
    source = config.encoder
    if source is None:
        return TextTransformer(vocab.size, vocab.max_length, vocab.pad_id, config.text)
    if os.path.isdir(source):
        return freeze(HFTextEncoder.from_path(source, vocab.pad_id))
    model, _, encoder_vocab = load_model_file_with(source, {"clip": build_clip, "text": build_text_model})  # its text tower
    if (encoder_vocab.size, encoder_vocab.pad_id) != (vocab.size, vocab.pad_id):
        raise ValueError(f"{source}: encoder vocabulary {encoder_vocab.size} differs from the tokenizer's {vocab.size}")
    return freeze(model.text)


def build_mclip(config: MclipModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    teacher = load_teacher(config.teacher, teacher_vocab)
    return MCLIPModel(teacher, build_encoder(config, vocab), vocab.pad_id, config)
