"""Parts of a pretrained BERT-family encoder (XLM-R, BERT) that the fusion models build
on, made of the library's own modules (loaded by :mod:`babelshard.train.models.backbones`).

* :class:`TextEmbeddings`: the checkpoint's embedding layer, with an optional vector
  added to each word embedding (M3P's language embedding);
* :class:`LayerStack`: a slice of the checkpoint's layers under a padding mask;
* :class:`FusionStack`: layers whose self-attention and feed-forward are the
  checkpoint's, with a cross-attention block between them that starts as a copy of the
  layer's self-attention and runs only when given a context (the unified mVLP's fusion
  encoder);
* :class:`TiedMaskedLMHead`: a masked-LM head whose output matrix is the word embeddings;
* :func:`tokenizer_specials`: the mask id and special ids of the checkpoint's tokenizer.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from babelshard.train.models.backbones import CheckpointError
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.models.fusion import Context


def padding_mask(config: Any, states: torch.Tensor, pad: torch.Tensor | None, keys: torch.Tensor | None = None) -> Any:
    """The library's attention mask for ``states`` attending to ``keys`` (default
    themselves) with ``pad`` (True at padding) over the keys; None when nothing is padded."""
    from transformers.masking_utils import create_bidirectional_mask

    if pad is None:
        return None
    return create_bidirectional_mask(config=config, inputs_embeds=states, attention_mask=(~pad).long(),
                                     encoder_hidden_states=keys)


class TextEmbeddings(nn.Module):
    def __init__(self, embeddings: nn.Module):
        super().__init__()
        self.embeddings = embeddings

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def forward(self, tokens: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """Word (+ ``extra``, broadcast over positions), position and type embeddings,
        normalised, as the checkpoint computes them (positions from the non-pad tokens)."""
        words = self.embeddings.word_embeddings(tokens)
        if extra is not None:
            words = words + extra
        return self.embeddings(input_ids=tokens, inputs_embeds=words)


class LayerStack(nn.Module):
    def __init__(self, config: Any, layers: Sequence[nn.Module]):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(layers)

    def forward(self, states: torch.Tensor, pad: torch.Tensor | None, context: Context | None = None) -> torch.Tensor:
        if context is not None:
            raise ValueError("these layers have no cross-attention")
        mask = padding_mask(self.config, states, pad)
        for layer in self.layers:
            states = layer(states, mask)
        return states


class CrossAttentionLayer(nn.Module):
    """A checkpoint layer with a cross-attention block after its self-attention."""

    def __init__(self, layer: nn.Module, config: Any):
        super().__init__()
        self.attention, self.intermediate, self.output = layer.attention, layer.intermediate, layer.output
        self.cross_attention = type(layer.attention)(config, is_cross_attention=True)
        self.cross_attention.load_state_dict(layer.attention.state_dict())

    def forward(self, states: torch.Tensor, mask: Any, context: torch.Tensor | None = None, context_mask: Any = None) -> torch.Tensor:
        states = self.attention(states, mask)[0]
        if context is not None:
            states = self.cross_attention(states, encoder_hidden_states=context, encoder_attention_mask=context_mask)[0]
        return self.output(self.intermediate(states), states)


class FusionStack(nn.Module):
    def __init__(self, config: Any, layers: Sequence[nn.Module]):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(CrossAttentionLayer(layer, config) for layer in layers)

    def forward(self, states: torch.Tensor, pad: torch.Tensor | None, context: Context | None = None) -> torch.Tensor:
        mask = padding_mask(self.config, states, pad)
        keys = context_mask = None
        if context is not None:
            keys = context.states
            context_mask = padding_mask(self.config, states, context.mask, keys)
        for layer in self.layers:
            states = layer(states, mask, keys, context_mask)
        return states


class TiedMaskedLMHead(nn.Module):
    """Dense, GELU, LayerNorm, then the word embeddings (transposed) and a bias, as
    XLM-R's and BERT's own masked-LM heads are shaped."""

    def __init__(self, word_embeddings: nn.Embedding, eps: float = 1e-5):
        super().__init__()
        width = word_embeddings.embedding_dim
        self.transform = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width, eps=eps))
        self.word_embeddings = word_embeddings
        self.bias = nn.Parameter(torch.zeros(word_embeddings.num_embeddings))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(self.transform(states), self.word_embeddings.weight, self.bias)


def tokenizer_specials(path: str) -> tuple[int, tuple[int, ...]]:
    """(mask id, every special id) of the tokenizer saved beside a checkpoint."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.mask_token_id is None:
        raise CheckpointError(f"{path}: the tokenizer has no mask token")
    return int(tokenizer.mask_token_id), tuple(sorted(set(tokenizer.all_special_ids)))


def check_vocabulary(model: Any, vocab: VocabInfo, path: str) -> None:
    """The trainer's tokenizer must be the checkpoint's: same size and pad id."""
    size, pad = int(model.config.vocab_size), int(model.config.pad_token_id)
    if (vocab.size, vocab.pad_id) != (size, pad):
        raise CheckpointError(f"{path}: the checkpoint has {size} token ids (pad {pad}), the tokenizer {vocab.size} "
                         f"(pad {vocab.pad_id}); set tokenizer: {{kind: transformers, path: {path}}}")
