"""The ``text`` kind on a pretrained encoder (XLM-R): mCLIP's enhanced multilingual text
encoder, trained on translation pairs before the triangle distillation.

:class:`PretrainedTextModel` pools the encoder's token states into sentence embeddings
(CTL) and, with a ``decoder``, translates with a transformer decoder over those states
(NMT). The decoder reads and predicts tokens through the encoder's own word embeddings
(tied both ways), so it adds only its layers. mCLIP's two stages are two configs: the
NMT-decoder stage (``freeze_encoder: true``, objective ``nmt``), then NMT + 2·CTL with
the encoder trainable, starting from the first stage's model file (``init``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babelshard.train.model_config import NmtDecoderConfig, TextModelConfig
from babelshard.train.models.backbones import CheckpointError, HFTextEncoder
from babelshard.train.models.dual_encoder import FrozenAware, VocabInfo, build_text, freeze
from babelshard.train.models.encoders import pool_states


class NmtDecoder(nn.Module):
    """Pre-norm transformer decoder layers (causal self-attention, cross-attention to the
    encoder), with input and output tied to ``embedding`` (plus an output bias)."""

    def __init__(self, embedding: nn.Embedding, max_length: int, config: NmtDecoderConfig):
        super().__init__()
        width = embedding.embedding_dim
        if width % config.heads:
            raise ValueError(f"decoder heads {config.heads} do not divide the encoder width {width}")
        self._embedding = [embedding]  # the encoder's: registered (and saved) there, not twice
        self.positional = nn.Parameter(torch.randn(max_length, width) * 0.02)
        self.layers = nn.ModuleList(
            nn.TransformerDecoderLayer(width, config.heads, int(width * config.mlp_ratio), config.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(width)
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))  # the output's only untied part

    def forward(self, inputs: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor, pad_id: int) -> torch.Tensor:
        """Logits over the vocabulary for each next token of ``inputs``."""
        weight = self._embedding[0].weight
        states = F.embedding(inputs, weight) + self.positional[: inputs.shape[1]]
        length = inputs.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=inputs.device).triu(1)
        for layer in self.layers:
            states = layer(states, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=inputs == pad_id,
                           memory_key_padding_mask=memory_pad)
        return self.norm(states) @ weight.T + self.bias


class PretrainedTextModel(FrozenAware):
    def __init__(self, config: TextModelConfig, vocab: VocabInfo):
        super().__init__()
        assert config.checkpoint is not None
        self.text = HFTextEncoder.from_path(config.checkpoint.path, vocab.pad_id)
        rows = self.text.word_embeddings.num_embeddings
        if vocab.size > rows:
            raise CheckpointError(f"{config.checkpoint.path}: the tokenizer has {vocab.size} tokens, the checkpoint's "
                                  f"embedding {rows}; use the checkpoint's own tokenizer")
        self.pad_id, self.pool = vocab.pad_id, config.text.pool
        if config.freeze_encoder:
            freeze(self.text)
        self.decoder = None
        if config.decoder is not None:
            self.decoder = NmtDecoder(self.text.word_embeddings, vocab.max_length, config.decoder)

    @property
    def encoder_frozen(self) -> bool:
        return bool(getattr(self.text, "_babelshard_frozen", False))

    def _states(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.encoder_frozen):
            return self.text.token_states(tokens)

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return pool_states(self._states(tokens), tokens == self.pad_id, self.pool)

    def translation_loss(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of each next target token given the source sentence (teacher forcing)."""
        if self.decoder is None:
            raise ValueError("the nmt objective needs model.decoder")
        logits = self.decoder(target[:, :-1], self._states(source), source == self.pad_id, self.pad_id)
        return F.cross_entropy(logits.flatten(0, 1).float(), target[:, 1:].flatten(), ignore_index=self.pad_id)


def build_text_model(config: TextModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    """The ``text`` kind: a pretrained encoder when ``checkpoint`` is set, else the small one."""
    if config.checkpoint is not None:
        return PretrainedTextModel(config, vocab)
    if config.decoder is not None:
        raise ValueError("model.decoder needs model.checkpoint (a pretrained encoder to translate from)")
    return build_text(config, vocab, teacher_vocab)
