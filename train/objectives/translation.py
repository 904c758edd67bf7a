"""Translation (NMT) on parallel pairs: the text model's decoder predicts one side of each
pair from the other (mCLIP's enhancement of the multilingual text encoder).

| name | stream | loss |
|---|---|---|
| ``nmt`` | parallel | token cross-entropy of the translation, teacher-forced; ``direction`` picks the sides |
"""
from __future__ import annotations

import torch
from torch import nn

from babelshard.train.data.batches import PairBatch
from babelshard.train.objective_config import TranslationConfig
from babelshard.train.objectives.contrastive import Objective


class Translation(Objective):
    config: TranslationConfig

    def forward(self, model: nn.Module, batch: PairBatch) -> dict[str, torch.Tensor]:
        if not hasattr(model, "translation_loss"):
            raise ValueError(f"objective nmt needs a text model with a decoder, not {type(model).__name__}")
        terms = {}
        if self.config.direction in ("to_english", "both"):  # pairs are English first: target -> source
            terms["to_english"] = model.translation_loss(batch.target_tokens, batch.source_tokens)
        if self.config.direction in ("from_english", "both"):
            terms["from_english"] = model.translation_loss(batch.source_tokens, batch.target_tokens)
        loss = sum(terms.values()) / len(terms)
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}
