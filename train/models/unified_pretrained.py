"""The unified mVLP on its backbones (model kind ``unified`` with ``text_checkpoint``).

XLM-R's embeddings and lower ``text_layers`` layers are the text encoder; its upper
layers are the fusion encoder, each with a cross-attention block that starts as a copy
of the layer's self-attention and runs only for paired inputs (image states for a
caption, the source sentence's states for a translation); the image encoder is a
CLIP/ViT checkpoint (or the small ViT). The text embedding is the text encoder's first
token (``<s>``); the masked-LM head's output matrix is XLM-R's word embeddings. Its
fusion interface is :class:`~babelshard.train.models.fusion.TwoStreamFusion`'s, as the tiny
:class:`~babelshard.train.models.fusion.UnifiedModel`'s is.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from babelshard.train.model_config import UnifiedModelConfig
from babelshard.train.models.backbones import CheckpointError, load_hf_text
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.models.encoders import pool_states
from babelshard.train.models.fusion import TwoStreamFusion
from babelshard.train.models.image_encoders import image_encoder
from babelshard.train.models.pretrained_text import (
    FusionStack,
    LayerStack,
    TextEmbeddings,
    TiedMaskedLMHead,
    check_vocabulary,
    tokenizer_specials,
)


def split_point(total: int, text_layers: int | None, path: str) -> int:
    split = text_layers if text_layers is not None else total // 2
    if not 1 <= split < total:
        raise CheckpointError(f"{path} has {total} layers: text_layers must leave at least one for fusion, got {split}")
    return split


class PretrainedUnifiedModel(TwoStreamFusion):
    def __init__(self, config: UnifiedModelConfig, vocab: VocabInfo):
        super().__init__()
        path = config.text_checkpoint.path  # type: ignore[union-attr]
        backbone = load_hf_text(path)
        check_vocabulary(backbone, vocab, path)
        layers = backbone.encoder.layer
        split = split_point(len(layers), config.text_layers, path)
        self.pad_id, self.vocab_size = vocab.pad_id, vocab.size
        self.mask_id, self.special_ids = tokenizer_specials(path)
        self.pool = config.text.pool
        width = int(backbone.config.hidden_size)
        self.embeddings = TextEmbeddings(backbone.embeddings)
        self.text_encoder = LayerStack(backbone.config, layers[:split])
        self.fusion = FusionStack(backbone.config, layers[split:])
        self.visual = image_encoder(config.image_checkpoint, config.vision)
        self.image_to_text = nn.Linear(self.visual.width, width)
        self.image_proj = nn.Linear(self.visual.width, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(width, config.embed_dim, bias=False)
        self.mlm_head = TiedMaskedLMHead(self.embeddings.word_embeddings, float(backbone.config.layer_norm_eps))
        self.itm_head = nn.Linear(width, 2)

    def text_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """The text encoder's output: the checkpoint's embeddings and lower layers."""
        return self.text_encoder(self.embeddings(tokens), tokens == self.pad_id)

    def image_states(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.visual.states(pixels)

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text_proj(pool_states(self.text_states(tokens), tokens == self.pad_id, self.pool))
