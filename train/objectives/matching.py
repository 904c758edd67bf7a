"""Image-text matching (binary: does this caption describe this image?) and masked
region modeling, on a caption stream.

| name | negatives / targets |
|---|---|
| ``mc_vlm`` / ``itm_random`` | M3P: ``negatives`` random negatives per positive pair, each replacing its image or its caption (even odds; ``replace: text``: the caption only) |
| ``itm`` / ``itm_hard`` | unified mVLP: per image one hard negative caption and per caption one hard negative image, drawn in proportion to the softmax of the contrastive similarities |
| ``mc_mrm`` / ``mrm`` | M3P: 15% of the image positions masked (90% zeroed, 10% kept); regress their input features (MSE: region or grid features; a pixel model's patch pixels) and, where the shards carry the detector's class distributions, classify them (CE with its most likely class, or KL to the distribution; a pixel model: ``region_labels``, CE) |

A pair of samples with the same key (one image drawn twice) is never a negative.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from babelshard.train.data.batches import CaptionBatch
from babelshard.train.objective_config import HardMatchingConfig, RandomMatchingConfig, RegionModelingConfig
from babelshard.train.objectives.contrastive import Objective
from babelshard.train.objectives.masking import IGNORE, mask_patches


def distinct_pairs(keys: list[str], device: torch.device) -> torch.Tensor:
    """(n, n) bool: True where rows i and j are different samples."""
    ids = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    codes = torch.tensor([ids[key] for key in keys], device=device)
    return codes.unsqueeze(0) != codes.unsqueeze(1)


def random_negatives(valid: torch.Tensor, per_row: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row with a valid partner, ``per_row`` partners drawn uniformly (without
    replacement while enough exist); returns (rows, partners)."""
    rows = valid.any(dim=1).nonzero().squeeze(1)
    weights = valid[rows].float()
    replacement = bool((weights.sum(dim=1) < per_row).any())
    partners = torch.multinomial(weights, per_row, replacement=replacement)
    return rows.repeat_interleave(per_row), partners.flatten()


def replaced_pairs(rows: torch.Tensor, partners: torch.Tensor, replace: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(image rows, text rows) of negatives built from pair ``rows``: each replaces its
    image or, with even odds, its caption by the partner's (``image_or_text``), or always
    the caption (``text``)."""
    if replace == "text":
        return rows, partners
    new_image = torch.rand(rows.shape, device=rows.device) < 0.5
    return torch.where(new_image, partners, rows), torch.where(new_image, rows, partners)


def hard_negatives(similarity: torch.Tensor, valid: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One partner per row, drawn with probability ∝ exp(similarity / temperature) among
    valid partners: the more a wrong caption looks right, the likelier it is chosen."""
    rows = valid.any(dim=1).nonzero().squeeze(1)
    logits = (similarity[rows] / temperature).masked_fill(~valid[rows], float("-inf"))
    partners = torch.multinomial(torch.softmax(logits.float(), dim=1), 1).squeeze(1)
    return rows, partners


def matching_loss(model: nn.Module, batch: CaptionBatch, images: torch.Tensor, texts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy of the ITM head on every positive pair plus the given negative
    (image row, text row) pairs."""
    tokens, langs = batch.tokens, batch.languages
    n = tokens.shape[0]
    rows = torch.arange(n, device=tokens.device)
    image_rows, text_rows = torch.cat([rows, images]), torch.cat([rows, texts])
    context = model.image_context(batch).select(image_rows)
    logits = model.match_logits(tokens.index_select(0, text_rows), [langs[int(i)] for i in text_rows], context)
    labels = torch.cat([torch.ones(n, dtype=torch.long), torch.zeros(len(images), dtype=torch.long)]).to(tokens.device)
    loss = F.cross_entropy(logits.float(), labels)
    accuracy = (logits.argmax(dim=-1) == labels).float().mean()
    return {"loss": loss, "accuracy": accuracy.detach(), "negatives": torch.tensor(float(len(images)))}


class RandomNegativeMatching(Objective):
    config: RandomMatchingConfig

    def forward(self, model: nn.Module, batch: CaptionBatch) -> dict[str, torch.Tensor]:
        valid = distinct_pairs(batch.keys, batch.tokens.device)
        rows, partners = random_negatives(valid, self.config.negatives)
        images, texts = replaced_pairs(rows, partners, self.config.replace)
        out = matching_loss(model, batch, images, texts)
        out["replaced_images"] = (images != rows).sum().float()
        out["replaced_texts"] = (texts != rows).sum().float()
        return out


class HardNegativeMatching(Objective):
    config: HardMatchingConfig

    def forward(self, model: nn.Module, batch: CaptionBatch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            image = F.normalize(model.encode_image(batch).float(), dim=-1)
            text = F.normalize(model.encode_text(batch.tokens, batch.languages).float(), dim=-1)
        similarity = image @ text.T
        valid = distinct_pairs(batch.keys, similarity.device)
        temperature = self.config.hard_temperature
        image_rows, hard_texts = hard_negatives(similarity, valid, temperature)
        text_rows, hard_images = hard_negatives(similarity.T, valid, temperature)
        images = torch.cat([image_rows, hard_images])
        texts = torch.cat([hard_texts, text_rows])
        return matching_loss(model, batch, images, texts)


class MaskedRegionModeling(Objective):
    """Regress masked image positions' input features from the joint states: region or
    grid features (a pixel model's patch pixels); classify them against the detector's
    class distributions (``region_classes``, batch × regions × classes) or, for a pixel
    model, ``region_labels`` (batch × patches, -100 where unknown)."""

    config: RegionModelingConfig

    def forward(self, model: nn.Module, batch: CaptionBatch) -> dict[str, torch.Tensor]:
        if not hasattr(model, "region_states"):
            raise ValueError(f"objective {self.config.kind!r} needs a single-stream model (kind m3p), got {type(model).__name__}")
        valid = model.region_valid(batch)
        masked = mask_patches(valid.shape[0], valid.shape[1], valid.device, self.config.patch_mask_probability,
                              self.config.patch_zero_ratio, maskable=valid)
        states = model.region_states(batch.tokens, batch.languages, batch, masked.zeroed)[masked.selected]
        target = model.region_targets(batch)[masked.selected]
        regression = F.mse_loss(model.region_regressor(states).float(), target.float())
        out = {"regression": regression.detach(), "patches": torch.tensor(float(target.shape[0]))}
        loss = self.config.regression_weight * regression
        classification = self.classification(model, batch, states, masked.selected)
        if classification is not None:
            loss = loss + self.config.classification_weight * classification
            out["classification"] = classification.detach()
        return {"loss": loss, **out}

    def classification(self, model: nn.Module, batch: CaptionBatch, states: torch.Tensor,
                       selected: torch.Tensor) -> torch.Tensor | None:
        if model.region_classifier is None:
            return None
        if batch.region_classes is not None:
            logits = model.region_classifier(states).float()
            detector = batch.region_classes[selected].float()
            if self.config.class_loss == "kl":
                return F.kl_div(F.log_softmax(logits, dim=-1), detector, reduction="batchmean")
            return F.cross_entropy(logits, detector.argmax(dim=-1))
        if batch.region_labels is not None:
            gold = batch.region_labels[selected]
            if (gold != IGNORE).any():
                return F.cross_entropy(model.region_classifier(states).float(), gold, ignore_index=IGNORE)
        return None
