"""The fusion encoder and the unified mVLP model (model kind ``unified``).

A fusion layer is self-attention, an optional cross-attention and a feed-forward block
(pre-norm). Cross-attention runs only when the layer is given a context: image patch
states for image-conditioned text, the source sentence's states for a translation
target; monolingual text passes with no context and the cross-attention is skipped,
so one stack serves unpaired text, translation pairs and image-text pairs (the
unified mVLP architecture).

Every fusion model answers, besides part 1's ``encode_image`` / ``encode_text``:
``image_context(images)`` (a batch, or pixels), ``text_context(tokens, langs)``, ``fused_text(tokens, langs,
context)``, ``concat_text(a, a_langs, b, b_langs)``, ``mlm_logits(states)`` and
``match_logits(tokens, langs, context)``; the objectives in ``mlm_objectives`` and
``matching`` talk to models only through these.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import FusionConfig, M3pModelConfig, TextEncoderConfig, UnifiedModelConfig
from babelshard.train.models.encoders import TextTransformer, TinyViT
from babelshard.train.models.dual_encoder import FrozenAware, VocabInfo


@dataclass(frozen=True)
class Context:
    """What fused text attends to: states (batch, n, width) and a pad mask (True = pad)."""

    states: torch.Tensor
    mask: torch.Tensor | None = None

    def select(self, rows: torch.Tensor) -> "Context":
        mask = None if self.mask is None else self.mask.index_select(0, rows)
        return Context(self.states.index_select(0, rows), mask)


class FeedForward(nn.Sequential):
    def __init__(self, width: int, mlp_ratio: float, dropout: float):
        hidden = int(width * mlp_ratio)
        super().__init__(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, width))


class FusionLayer(nn.Module):
    """Pre-norm self-attention, cross-attention (when built with it and given a context),
    feed-forward."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float = 0.0, cross: bool = True):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.norm_self = nn.LayerNorm(width)
        self.self_attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm_cross = nn.LayerNorm(width) if cross else None
        self.cross_attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True) if cross else None
        self.norm_ff = nn.LayerNorm(width)
        self.feed_forward = FeedForward(width, mlp_ratio, dropout)

    def forward(self, states: torch.Tensor, pad_mask: torch.Tensor | None, context: Context | None = None) -> torch.Tensor:
        h = self.norm_self(states)
        states = states + self.self_attention(h, h, h, key_padding_mask=pad_mask, need_weights=False)[0]
        if context is not None and self.cross_attention is not None:
            h = self.norm_cross(states)  # type: ignore[misc]
            attended = self.cross_attention(h, context.states, context.states, key_padding_mask=context.mask, need_weights=False)
            states = states + attended[0]
        return states + self.feed_forward(self.norm_ff(states))


class FusionEncoder(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_ratio: float, dropout: float = 0.0, cross: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(FusionLayer(width, heads, mlp_ratio, dropout, cross) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, states: torch.Tensor, pad_mask: torch.Tensor | None, context: Context | None = None) -> torch.Tensor:
        for layer in self.layers:
            states = layer(states, pad_mask, context)
        return self.norm(states)


def pixels_of(images: ImageInputs | torch.Tensor) -> torch.Tensor:
    """The pixels of an image batch (objectives pass the batch, evaluation a tensor)."""
    pixels = images.image if isinstance(images, ImageInputs) else images
    if pixels is None:
        raise ValueError("this model reads pixels: give its caption stream an image section")
    return pixels


def vit_states(vit: TinyViT, images: torch.Tensor, zeroed: torch.Tensor | None = None) -> torch.Tensor:
    """All final states of part 1's tiny ViT (class token first, then patches); patches
    flagged in ``zeroed`` (batch, patches) enter as zero embeddings."""
    patches = vit.patch_embed(images).flatten(2).transpose(1, 2)
    if zeroed is not None:
        patches = patches.masked_fill(zeroed.unsqueeze(-1), 0.0)
    states = torch.cat([vit.class_token.expand(patches.shape[0], -1, -1), patches], dim=1) + vit.positional
    return vit.ln_final(vit.blocks(states))


class MaskedLMHead(nn.Module):
    """Transform, norm and a projection to the vocabulary (the mask id is never predicted)."""

    def __init__(self, width: int, vocab_size: int):
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width))
        self.decoder = nn.Linear(width, vocab_size)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(states))


def resolved(fusion: FusionConfig, text: TextEncoderConfig) -> tuple[int, int, float]:
    """Fusion layers, heads and MLP ratio, defaulting to the text encoder's."""
    return fusion.layers or text.layers, fusion.heads or text.heads, fusion.mlp_ratio or text.mlp_ratio


class UnifiedModel(FrozenAware):
    """Tiny ViT; a text encoder (self-attention only) whose pooled output serves the
    contrastive objective; fusion layers with cross-attention above it."""

    def __init__(self, config: UnifiedModelConfig | M3pModelConfig, vocab: VocabInfo, fusion: FusionConfig):
        super().__init__()
        width = config.text.width
        self.pad_id, self.vocab_size, self.mask_id = vocab.pad_id, vocab.size, vocab.size
        self.special_ids = tuple(fusion.special_ids)
        # one extra embedding row for [MASK]; twice the positions for concatenated pairs
        self.text = TextTransformer(vocab.size + 1, 2 * vocab.max_length, vocab.pad_id, config.text)
        self.visual = TinyViT(config.vision)
        self.image_to_text = nn.Linear(config.vision.width, width)
        layers, heads, mlp_ratio = resolved(fusion, config.text)
        self.fusion = FusionEncoder(width, layers, heads, mlp_ratio, fusion.dropout, cross=True)
        self.image_proj = nn.Linear(config.vision.width, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(width, config.embed_dim, bias=False)
        self.mlm_head = MaskedLMHead(width, vocab.size)
        self.itm_head = nn.Linear(width, 2)

    # part 1's interface (contrastive objectives, retrieval evaluation)
    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        return self.image_proj(vit_states(self.visual, inputs.image)[:, 0])

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text_proj(self.text(tokens))

    # fusion interface
    def image_context(self, images: ImageInputs | torch.Tensor) -> Context:
        return Context(self.image_to_text(vit_states(self.visual, pixels_of(images))))

    def text_context(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> Context:
        return Context(self.text.token_states(tokens), tokens == self.pad_id)

    def fused_text(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Context | None) -> torch.Tensor:
        """Token states after the fusion layers; cross-attention only with a context."""
        return self.fusion(self.text.token_states(tokens), tokens == self.pad_id, context)

    def concat_text(self, first: torch.Tensor, first_langs: Sequence[str], second: torch.Tensor, second_langs: Sequence[str]) -> torch.Tensor:
        """XLM-style TLM: both sentences as one sequence, no cross-attention."""
        return self.fused_text(torch.cat([first, second], dim=1), None, None)

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.mlm_head(states)

    def match_logits(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Context) -> torch.Tensor:
        return self.itm_head(self.fused_text(tokens, languages, context)[:, 0])


def build_unified(config: UnifiedModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    if config.text_checkpoint is not None:
        from babelshard.train.models.unified_pretrained import PretrainedUnifiedModel

        return PretrainedUnifiedModel(config, vocab)
    return UnifiedModel(config, vocab, config.fusion)
