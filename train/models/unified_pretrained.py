"""The unified mVLP on its backbones (model kind ``unified`` with ``text_checkpoint``).

XLM-R's embeddings and lower ``text_layers`` layers are the text encoder; its upper
layers are the fusion encoder, each with a cross-attention block that starts as a copy
of the layer's self-attention and runs only for paired inputs (image states for a
caption, the source sentence's states for a translation); the image encoder is a
CLIP/ViT checkpoint (or the small ViT). The text embedding is the text encoder's first
token (``<s>``); the masked-LM head's output matrix is XLM-R's word embeddings. It
answers the same interface as :class:`~babelshard.train.models.fusion.UnifiedModel`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import UnifiedModelConfig
from babelshard.train.models.backbones import CheckpointError, load_hf_text
from babelshard.train.models.dual_encoder import FrozenAware, VocabInfo
from babelshard.train.models.encoders import pool_states
from babelshard.train.models.fusion import Context, pixels_of
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


class PretrainedUnifiedModel(FrozenAware):
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

    # the interface of the contrastive objectives and retrieval evaluation
    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        return self.image_proj(self.visual.states(pixels_of(inputs))[:, 0])

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text_proj(pool_states(self.text_states(tokens), tokens == self.pad_id, self.pool))

    # the fusion interface
    def image_context(self, images: ImageInputs | torch.Tensor) -> Context:
        return Context(self.image_to_text(self.visual.states(pixels_of(images))))

    def text_context(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> Context:
        return Context(self.text_states(tokens), tokens == self.pad_id)

    def fused_text(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Context | None) -> torch.Tensor:
        return self.fusion(self.text_states(tokens), tokens == self.pad_id, context)

    def concat_text(self, first: torch.Tensor, first_langs: Sequence[str], second: torch.Tensor, second_langs: Sequence[str]) -> torch.Tensor:
        return self.fused_text(torch.cat([first, second], dim=1), None, None)

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.mlm_head(states)

    def match_logits(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Context) -> torch.Tensor:
        return self.itm_head(self.fused_text(tokens, languages, context)[:, 0])
