"""M3P on its backbone (model kind ``m3p`` with ``text_checkpoint``): XLM-R's embeddings
and all its layers are the shared single-stream transformer over [text; image regions].

A text position is XLM-R's own embedding of the token (word, position, type, norm) with
the language's embedding added to the word embedding; the language embeddings start at
zero, so the text side starts as XLM-R computes it. The image positions (region or grid
features, or patches) are embedded as in :class:`~babelshard.train.models.single_stream.SingleStreamModel`.
The masked-LM head's output matrix is XLM-R's word embeddings.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from babelshard.train.model_config import M3pModelConfig, SingleStreamFusionConfig
from babelshard.train.models.backbones import load_hf_text
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.models.pretrained_text import (
    LayerStack,
    TextEmbeddings,
    TiedMaskedLMHead,
    check_vocabulary,
    tokenizer_specials,
)
from babelshard.train.models.single_stream import SingleStreamModel


class PretrainedSingleStreamModel(SingleStreamModel):
    def build_text(self, config: M3pModelConfig, vocab: VocabInfo, fusion: SingleStreamFusionConfig) -> int:
        path = config.text_checkpoint.path  # type: ignore[union-attr]
        self._backbone = [load_hf_text(path)]  # a list: its modules are registered below, not twice
        backbone = self._backbone[0]
        check_vocabulary(backbone, vocab, path)
        self.pad_id, self.vocab_size = vocab.pad_id, vocab.size
        self.mask_id, self.special_ids = tokenizer_specials(path)
        self.text_embeddings = TextEmbeddings(backbone.embeddings)
        return int(backbone.config.hidden_size)

    def build_layers(self, config: M3pModelConfig, fusion: SingleStreamFusionConfig, width: int) -> None:
        backbone = self._backbone[0]
        self.encoder = LayerStack(backbone.config, backbone.encoder.layer)

    def build_mlm_head(self, vocab: VocabInfo, width: int) -> nn.Module:
        backbone = self._backbone[0]
        return TiedMaskedLMHead(self.text_embeddings.word_embeddings, float(backbone.config.layer_norm_eps))

    def after_build(self) -> None:
        nn.init.zeros_(self.language_embedding.weight)
        del self._backbone

    def text_inputs(self, tokens: torch.Tensor, languages: Sequence[str] | None) -> torch.Tensor:
        lang = self.language_ids(languages, tokens.shape[0], tokens.device)
        return self.text_embeddings(tokens, self.language_embedding(lang).unsqueeze(1))
