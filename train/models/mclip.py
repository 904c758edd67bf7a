"""mCLIP: a frozen multilingual text encoder plus a trainable X-projector, distilled
into a frozen English CLIP's space (triangle distillation, TriKD).

The multilingual encoder is a local ``transformers`` directory (XLM-R in the paper), a
babelshard model file whose text tower is used (e.g. a ``text`` model trained with CTL
on parallel pairs, mCLIP's text-encoder stage), or, when none is given, a fresh trainable text
transformer. The X-projector is ``projector_layers`` transformer layers over the
encoder's token states, mean pooled and projected to the teacher's embedding size.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch
from torch import nn

from babelshard.train.model_config import MclipModelConfig
from babelshard.train.models.backbones import HFTextEncoder
from babelshard.train.models.encoders import TextTransformer, make_block, pool_states
from babelshard.train.models.dual_encoder import (
    ClipModel,
    TeacherStudent,
    VocabInfo,
    build_clip,
    build_text,
    freeze,
    load_frozen_teacher,
    load_model_file_with,
)


def _heads(width: int, wanted: int) -> int:
    return next(h for h in range(min(wanted, width), 0, -1) if width % h == 0)


class XProjector(nn.Module):
    def __init__(self, width: int, heads: int, layers: int, embed_dim: int):
        super().__init__()
        self.blocks = nn.ModuleList(make_block(width, _heads(width, heads), 4.0) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, embed_dim, bias=False)

    def forward(self, states: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            states = block(states, src_key_padding_mask=pad_mask)
        return self.proj(pool_states(self.norm(states), pad_mask, "mean"))


class MCLIPModel(TeacherStudent):
    def __init__(self, teacher: ClipModel, encoder: nn.Module, pad_id: int, config: MclipModelConfig):
        super().__init__()
        self.teacher, self.encoder, self.pad_id = teacher, encoder, pad_id
        embed_dim = teacher.text_proj.out_features
        self.projector = XProjector(encoder.width, config.text.heads, config.projector_layers, embed_dim)

    @property
    def encoder_frozen(self) -> bool:
        return bool(getattr(self.encoder, "_babelshard_frozen", False))

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
    model, _, encoder_vocab = load_model_file_with(source, {"clip": build_clip, "text": build_text})  # its text tower
    if (encoder_vocab.size, encoder_vocab.pad_id) != (vocab.size, vocab.pad_id):
        raise ValueError(f"{source}: encoder vocabulary {encoder_vocab.size} differs from the tokenizer's {vocab.size}")
    return freeze(model.text)


def build_mclip(config: MclipModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    teacher = load_frozen_teacher(config.teacher, teacher_vocab)
    return MCLIPModel(teacher, build_encoder(config, vocab), vocab.pad_id, config)
