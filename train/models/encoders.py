"""Unimodal encoders: a small transformer text encoder, a tiny ViT and a feature encoder
for precomputed ``.npy`` image features (pretrained ones: :mod:`backbones`). Each returns one vector per input (``forward``); text encoders also give
token states (``token_states``) for adapters and projectors built on top of them.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from babelshard.train.model_config import FeatureTowerConfig, TextEncoderConfig, ViTConfig

Adapter = Callable[[int, torch.Tensor], torch.Tensor]


def make_block(width: int, heads: int, mlp_ratio: float, dropout: float = 0.0) -> nn.TransformerEncoderLayer:
    """A pre-norm transformer layer (GELU), batch first."""
    if width % heads:
        raise ValueError(f"width {width} is not divisible by {heads} heads")
    return nn.TransformerEncoderLayer(
        width, heads, int(width * mlp_ratio), dropout, activation="gelu", batch_first=True, norm_first=True
    )


def pool_states(states: torch.Tensor, pad_mask: torch.Tensor, how: str) -> torch.Tensor:
    """Mean over non-pad tokens, the first token, or the last non-pad token."""
    if how == "first":
        return states[:, 0]
    keep = (~pad_mask).to(states.dtype)
    if how == "last":
        last = keep.sum(dim=1).long().clamp(min=1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    return (states * keep.unsqueeze(-1)).sum(dim=1) / keep.sum(dim=1, keepdim=True).clamp(min=1.0)


class TextTransformer(nn.Module):
    def __init__(self, vocab_size: int, max_length: int, pad_id: int, config: TextEncoderConfig):
        super().__init__()
        self.pad_id, self.pool, self.width = pad_id, config.pool, config.width
        self.token_embedding = nn.Embedding(vocab_size, config.width)
        self.positional = nn.Parameter(torch.randn(max_length, config.width) * 0.01)
        self.blocks = nn.ModuleList(
            make_block(config.width, config.heads, config.mlp_ratio, config.dropout) for _ in range(config.layers)
        )
        self.ln_final = nn.LayerNorm(config.width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def token_states(self, tokens: torch.Tensor, embedding: nn.Module | None = None, adapter: Adapter | None = None) -> torch.Tensor:
        """Final-layer token states; ``embedding`` replaces the token embedding and
        ``adapter(layer, states)`` runs after every layer (MLA's language acquirers)."""
        pad_mask = tokens == self.pad_id
        states = (embedding or self.token_embedding)(tokens) + self.positional[: tokens.shape[1]]
        for layer, block in enumerate(self.blocks):
            states = block(states, src_key_padding_mask=pad_mask)
            if adapter is not None:
                states = adapter(layer, states)
        return self.ln_final(states)

    def pooled(self, states: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return pool_states(states, tokens == self.pad_id, self.pool)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.pooled(self.token_states(tokens), tokens)


class TinyViT(nn.Module):
    """Patch embedding, a class token, pre-norm transformer layers; returns the class
    token's state (``pool: first``) or the mean of the patch states (``mean``, which
    carries image-specific signal from the first step and escapes the collapsed start of
    contrastive training sooner at toy scale)."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        if config.image_size % config.patch_size:
            raise ValueError(f"image_size {config.image_size} is not a multiple of patch_size {config.patch_size}")
        self.width, self.pool = config.width, config.pool
        patches = (config.image_size // config.patch_size) ** 2
        self.patch_embed = nn.Conv2d(3, config.width, config.patch_size, config.patch_size, bias=False)
        self.class_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.positional = nn.Parameter(torch.randn(patches + 1, config.width) * 0.02)
        self.blocks = nn.Sequential(*(make_block(config.width, config.heads, config.mlp_ratio) for _ in range(config.layers)))
        self.ln_final = nn.LayerNorm(config.width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(images).flatten(2).transpose(1, 2)
        states = torch.cat([self.class_token.expand(patches.shape[0], -1, -1), patches], dim=1) + self.positional
        states = self.ln_final(self.blocks(states))
        return states[:, 0] if self.pool == "first" else states[:, 1:].mean(dim=1)


class FeatureEncoder(nn.Module):
    """An MLP over precomputed image features (e.g. a frozen teacher's, from ``.npy`` members)."""

    def __init__(self, config: FeatureTowerConfig):
        super().__init__()
        self.width = config.width
        self.net = nn.Sequential(
            nn.LayerNorm(config.feature_dim), nn.Linear(config.feature_dim, config.width), nn.GELU(), nn.Linear(config.width, config.width)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
