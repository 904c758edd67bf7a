"""Contrastive and distillation objectives, and the base every objective derives from.

An objective is an ``nn.Module`` chosen by its config's kind (:mod:`babelshard.train.registry`).
It reads one stream's typed sub-batch, calls the model's encoding methods and returns
``{"loss": tensor, ...}`` (extra entries are logged). Its ``weight`` scales ``loss`` in
the step's total. Temperatures live in the objective (fixed or learnable), so they are
checkpointed and optimised with it.

| name | stream | loss |
|---|---|---|
| ``itc`` / ``le`` | caption | symmetric InfoNCE, image vs text (ITC, MLA's LE) |
| ``ucl`` | caption + parallel | unified mVLP: one InfoNCE over image-caption and translation pairs together (each image or source sentence against every caption and target sentence of the step), one learnable temperature |
| ``ctl`` | parallel | symmetric InfoNCE, mean-pooled source vs target sentence |
| ``nlt`` | parallel | MSE(student(target), frozen teacher(English source)) |
| ``trikd`` | caption | ITC(student text, teacher image) + λ·TTC(student text, teacher text), TTC on English rows at a fixed temperature |

With ``multi_positive`` (image-text objectives), every row of the same image (same key:
a caption stream with ``captions_per_image``) counts as a positive:
:func:`multi_positive_infonce`.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babelshard.records import ENGLISH
from babelshard.train.data.batches import CaptionBatch, PairBatch
from babelshard.train.loop.distributed import gather_with_grad, local_offset
from babelshard.train.objective_config import (
    ContrastiveConfig,
    NativeTransferConfig,
    ObjectiveSettings,
    TriangleDistillationConfig,
    UnifiedContrastiveConfig,
)

MAX_LOGIT_SCALE = 100.0


def symmetric_infonce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor, gather: bool = True) -> torch.Tensor:
    """Mean of the a→b and b→a cross-entropies over cosine similarities; row i of ``a``
    matches row i of ``b``. Across ranks, local rows are scored against every rank's."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    all_a, all_b = (gather_with_grad(a), gather_with_grad(b)) if gather else (a, b)
    labels = torch.arange(a.shape[0], device=a.device) + (local_offset(a.shape[0]) if gather else 0)
    loss_ab = F.cross_entropy(logit_scale * a @ all_b.T, labels)
    loss_ba = F.cross_entropy(logit_scale * b @ all_a.T, labels)
    return (loss_ab + loss_ba) / 2


def key_ids(keys: Sequence[str], device: torch.device) -> torch.Tensor:
    """A 63-bit id per sample key (the same on every rank)."""
    ids = [int.from_bytes(hashlib.blake2b(k.encode("utf-8"), digest_size=8).digest(), "little") >> 1 for k in keys]
    return torch.tensor(ids, dtype=torch.int64, device=device)


def _gather_ids(ids: torch.Tensor) -> torch.Tensor:
    from babelshard.train.loop.distributed import distributed

    if not distributed():
        return ids
    import torch.distributed as dist

    parts = [torch.empty_like(ids) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, ids)
    return torch.cat(parts)


def multi_positive_infonce(a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor, logit_scale: torch.Tensor,
                           gather: bool = True) -> torch.Tensor:
    """Symmetric InfoNCE where row i's positives are every row with its id:
    -log(sum over positives of softmax) in each direction, averaged. With distinct ids it is
    :func:`symmetric_infonce`."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    all_a, all_b, all_ids = (gather_with_grad(a), gather_with_grad(b), _gather_ids(ids)) if gather else (a, b, ids)
    positive = ids.unsqueeze(1) == all_ids.unsqueeze(0)

    def direction(logits: torch.Tensor) -> torch.Tensor:
        kept = logits.masked_fill(~positive, float("-inf"))
        return (torch.logsumexp(logits, dim=1) - torch.logsumexp(kept, dim=1)).mean()

    return (direction(logit_scale * a @ all_b.T) + direction(logit_scale * b @ all_a.T)) / 2


def image_text_infonce(images: torch.Tensor, texts: torch.Tensor, keys: Sequence[str], scale: torch.Tensor,
                       multi_positive: bool) -> torch.Tensor:
    if multi_positive:
        return multi_positive_infonce(images, texts, key_ids(keys, images.device), scale)
    return symmetric_infonce(images, texts, scale)


class Temperature(nn.Module):
    """CLIP's logit scale 1/τ: a learnable log-parameter (clamped at 100) or a constant."""

    def __init__(self, temperature: float, learnable: bool):
        super().__init__()
        value = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_scale = nn.Parameter(value)
        else:
            self.register_buffer("log_scale", value)

    def forward(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=MAX_LOGIT_SCALE)


class Objective(nn.Module):
    def __init__(self, config: ObjectiveSettings):
        super().__init__()
        self.config: Any = config
        self.stream, self.weight = config.stream, config.weight

    def inputs(self, streams: Mapping[str, Any]) -> Any:
        """What ``forward`` reads from a step's sub-batches: its stream's, by default."""
        return streams[self.stream]

    def forward(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class ImageTextContrastive(Objective):
    def __init__(self, config: ContrastiveConfig):
        super().__init__(config)
        self.temperature = Temperature(config.temperature, config.learnable_temperature)

    def forward(self, model: nn.Module, batch: CaptionBatch) -> dict[str, torch.Tensor]:
        images = model.encode_image(batch)
        texts = model.encode_text(batch.tokens, batch.languages)
        scale = self.temperature()
        loss = image_text_infonce(images, texts, batch.keys, scale, self.config.multi_positive)
        return {"loss": loss, "logit_scale": scale.detach()}


def infonce(anchors: torch.Tensor, candidates: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each anchor against every rank's candidates, row i's positive
    being candidate i (inputs unit-normalised)."""
    labels = torch.arange(anchors.shape[0], device=anchors.device) + local_offset(anchors.shape[0])
    return F.cross_entropy(logit_scale * anchors @ gather_with_grad(candidates).T, labels)


class UnifiedContrastive(Objective):
    """UCL: the image-caption pairs and the translation pairs of a step form one set of
    pairs (x, y), x an image or a source sentence, y its caption or its translation; one
    InfoNCE ranks each x's y among all y of the set, with one learnable temperature."""

    config: UnifiedContrastiveConfig

    def __init__(self, config: UnifiedContrastiveConfig):
        super().__init__(config)
        self.temperature = Temperature(config.temperature, config.learnable_temperature)

    def inputs(self, streams: Mapping[str, Any]) -> tuple[CaptionBatch, PairBatch | None]:
        pair_stream = self.config.pair_stream
        return streams[self.stream], (streams[pair_stream] if pair_stream else None)

    def forward(self, model: nn.Module, batch: tuple[CaptionBatch, PairBatch | None] | CaptionBatch) -> dict[str, torch.Tensor]:
        captions, pairs = batch if isinstance(batch, tuple) else (batch, None)
        anchors = [model.encode_image(captions)]
        candidates = [model.encode_text(captions.tokens, captions.languages)]
        if pairs is not None:
            anchors.append(model.encode_text(pairs.source_tokens, pairs.source_languages))
            candidates.append(model.encode_text(pairs.target_tokens, pairs.target_languages))
        x = F.normalize(torch.cat(anchors).float(), dim=-1)
        y = F.normalize(torch.cat(candidates).float(), dim=-1)
        scale = self.temperature()
        loss = infonce(x, y, scale)
        if self.config.symmetric:
            loss = (loss + infonce(y, x, scale)) / 2
        return {"loss": loss, "logit_scale": scale.detach(), "pairs": torch.tensor(float(x.shape[0]))}


class TextTextContrastive(Objective):
    """CTL: translation pairs as positives, the rest of the batch as negatives."""

    def __init__(self, config: ContrastiveConfig):
        super().__init__(config)
        self.temperature = Temperature(config.temperature, config.learnable_temperature)

    def forward(self, model: nn.Module, batch: PairBatch) -> dict[str, torch.Tensor]:
        source = model.encode_text(batch.source_tokens, batch.source_languages)
        target = model.encode_text(batch.target_tokens, batch.target_languages)
        scale = self.temperature()
        return {"loss": symmetric_infonce(source, target, scale), "logit_scale": scale.detach()}


class NativeLanguageTransfer(Objective):
    """MLA stage 1: the student's embedding of the translation regresses the frozen
    teacher's embedding of the English sentence."""

    config: NativeTransferConfig

    def forward(self, model: nn.Module, batch: PairBatch) -> dict[str, torch.Tensor]:
        student = model.encode_text(batch.target_tokens, batch.target_languages).float()
        teacher = model.encode_teacher_text(batch.teacher_tokens).float()
        if self.config.normalize:
            student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
        return {"loss": F.mse_loss(student, teacher)}


class TriangleDistillation(Objective):
    """mCLIP's TriKD: student text against the teacher's image embedding (ITC, its own
    temperature) and, on English captions, against the teacher's text embedding (TTC, at
    the fixed ``ttc_temperature``)."""

    def __init__(self, config: TriangleDistillationConfig):
        super().__init__(config)
        self.temperature = Temperature(config.temperature, config.learnable_temperature)
        self.ttc_scale = 1.0 / config.ttc_temperature  # a constant: nothing to learn or checkpoint

    def forward(self, model: nn.Module, batch: CaptionBatch) -> dict[str, torch.Tensor]:
        student = model.encode_text(batch.tokens, batch.languages)
        images = model.encode_image(batch)
        scale = self.temperature()
        itc = image_text_infonce(student, images, batch.keys, scale, self.config.multi_positive)
        english = [i for i, lang in enumerate(batch.languages) if lang == ENGLISH]
        ttc = student.new_zeros(())
        if len(english) > 1:  # per rank: English rows differ in number between ranks
            if batch.teacher_tokens is None:
                raise ValueError(f"objective {self.config.kind!r} needs teacher_tokens: true on stream {self.stream!r}")
            rows = torch.tensor(english, device=student.device)
            teacher = model.encode_teacher_text(batch.teacher_tokens.index_select(0, rows))
            ttc = symmetric_infonce(student.index_select(0, rows), teacher, student.new_tensor(self.ttc_scale), gather=False)
        loss = itc + self.config.ttc_weight * ttc
        return {"loss": loss, "itc": itc.detach(), "ttc": ttc.detach(), "logit_scale": scale.detach()}

