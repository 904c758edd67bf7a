"""Masked language modeling objectives of M3P, unified mVLP and SMALR.

| name | stream | what is masked, what conditions the prediction |
|---|---|---|
| ``xmlm`` | text | monolingual sentences, no context (cross-attention skipped) |
| ``tlm`` | parallel | ``conditioning: cross``: each side masked and predicted with cross-attention to the other (unified mVLP); ``concat``: both sides masked in one sequence (XLM) |
| ``vlm`` / ``mc_mlm`` | caption | the caption (English or code-switched, as the stream gives it), attending to the image |
| ``mclm`` | parallel | SMALR: two captions of one image in two languages, both masked, each predicted with both as context |

Masking follows BERT: 15% of the non-special tokens, of which 80% become [MASK],
10% a random token and 10% stay (:class:`~babelshard.train.objective_config.MaskedLMConfig`).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babelshard.train.data.batches import CaptionBatch, PairBatch, TextBatch
from babelshard.train.objective_config import MaskedLMConfig, TranslationMLMConfig
from babelshard.train.objectives.contrastive import Objective
from babelshard.train.objectives.masking import IGNORE, MaskedTokens, mask_tokens, maskable_positions


def mask_for(model: nn.Module, tokens: torch.Tensor, probability: float, ratios: tuple[float, float, float]) -> MaskedTokens:
    maskable = maskable_positions(tokens, model.pad_id, model.special_ids)
    return mask_tokens(tokens, maskable, model.mask_id, model.vocab_size, probability, ratios)


def masked_lm_loss(model: nn.Module, states: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy over the target positions only (the head runs on those alone)."""
    targets = labels != IGNORE
    logits = model.mlm_logits(states[targets])
    gold = labels[targets]
    loss = F.cross_entropy(logits.float(), gold)
    accuracy = (logits.argmax(dim=-1) == gold).float().mean()
    return {"loss": loss, "accuracy": accuracy.detach(), "targets": torch.tensor(float(gold.numel()))}


class MaskedObjective(Objective):
    config: MaskedLMConfig

    def mask(self, model: nn.Module, tokens: torch.Tensor) -> MaskedTokens:
        return mask_for(model, tokens, self.config.mask_probability, self.config.mask_ratios)


class MonolingualMLM(MaskedObjective):
    """xMLM: masked LM on monolingual text of many languages (or captions read as
    sentences); no context."""

    def forward(self, model: nn.Module, batch: TextBatch | CaptionBatch) -> dict[str, torch.Tensor]:
        masked = self.mask(model, batch.tokens)
        return masked_lm_loss(model, model.fused_text(masked.inputs, batch.languages, None), masked.labels)


class VisualMLM(MaskedObjective):
    """VLM / MC-MLM: the caption masked, predicted with the image as context."""

    def forward(self, model: nn.Module, batch: CaptionBatch) -> dict[str, torch.Tensor]:
        masked = self.mask(model, batch.tokens)
        context = model.image_context(batch)
        return masked_lm_loss(model, model.fused_text(masked.inputs, batch.languages, context), masked.labels)


def concatenated_mlm(objective: MaskedObjective, model: nn.Module, first: torch.Tensor, first_langs: Sequence[str],
                     second: torch.Tensor, second_langs: Sequence[str]) -> dict[str, torch.Tensor]:
    """Mask both sentences, run them as one sequence, predict every masked token."""
    a, b = objective.mask(model, first), objective.mask(model, second)
    states = model.concat_text(a.inputs, first_langs, b.inputs, second_langs)
    return masked_lm_loss(model, states, torch.cat([a.labels, b.labels], dim=1))


def cross_conditioned_mlm(objective: MaskedObjective, model: nn.Module, first: torch.Tensor, first_langs: Sequence[str],
                          second: torch.Tensor, second_langs: Sequence[str]) -> dict[str, torch.Tensor]:
    """Each side masked and predicted with cross-attention to the other, unmasked, side."""
    results = []
    for tokens, langs, source, source_langs in ((second, second_langs, first, first_langs), (first, first_langs, second, second_langs)):
        masked = objective.mask(model, tokens)
        states = model.fused_text(masked.inputs, langs, model.text_context(source, source_langs))
        results.append(masked_lm_loss(model, states, masked.labels))
    return {name: (results[0][name] + results[1][name]) / 2 for name in ("loss", "accuracy")}


class TranslationMLM(MaskedObjective):
    """TLM on translation pairs, by cross-attention or by concatenation."""

    config: TranslationMLMConfig

    def forward(self, model: nn.Module, batch: PairBatch) -> dict[str, torch.Tensor]:
        run = cross_conditioned_mlm if self.config.conditioning == "cross" else concatenated_mlm
        return run(self, model, batch.source_tokens, batch.source_languages, batch.target_tokens, batch.target_languages)


class ConcatenatedMLM(MaskedObjective):
    """TLM by concatenation (XLM); as ``mclm``, SMALR's masked cross-language modeling
    on two captions of one image (a parallel stream read from caption shards)."""

    def forward(self, model: nn.Module, batch: PairBatch) -> dict[str, torch.Tensor]:
        return concatenated_mlm(self, model, batch.source_tokens, batch.source_languages, batch.target_tokens,
                                batch.target_languages)
