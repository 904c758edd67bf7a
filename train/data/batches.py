"""Typed batches: what the mixer yields, objectives read and models encode.

One dataclass per stream kind (:class:`CaptionBatch`, :class:`TextBatch`,
:class:`PairBatch`), each with ``to(device)`` and ``pin_memory()``; a step's
:class:`MixedBatch` holds one per stream by name, with its :class:`BatchMeta` (where
the worker is, for exact resumption). :class:`ImageInputs` is what ``encode_image``
reads: a caption batch is one, and evaluation builds one from images alone.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, TypeVar, Union

import torch

from babelshard.train.data.tokenizer import Tokenizer

B = TypeVar("B")


def encode(tokenizer: Tokenizer, texts: list[str], languages: Sequence[str]) -> torch.Tensor:
    """Token rows; a ``language_aware`` tokenizer (SMALR's hybrid one) also gets each text's language."""
    if getattr(tokenizer, "language_aware", False):
        return torch.from_numpy(tokenizer.encode(texts, list(languages)))
    return torch.from_numpy(tokenizer.encode(texts))


def _map_tensors(batch: B, move: Any) -> B:
    """A copy of ``batch`` with ``move`` applied to every tensor field."""
    values = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}  # type: ignore[arg-type]
    changes = {name: move(value) for name, value in values.items() if torch.is_tensor(value)}
    return dataclasses.replace(batch, **changes)  # type: ignore[type-var]


class TensorFields:
    """``to(device)`` and ``pin_memory()`` (the DataLoader calls it) over a batch's tensors."""

    def to(self: B, device: str | torch.device) -> B:
        return _map_tensors(self, lambda t: t.to(device, non_blocking=True))

    def pin_memory(self: B) -> B:
        return _map_tensors(self, lambda t: t.pin_memory())


@dataclass(frozen=True, kw_only=True)
class ImageInputs(TensorFields):
    """Pixels (batch, 3, H, W) for a ViT, precomputed features (batch, dim), or region
    features (batch, regions, dim) with ``region_mask`` (True at padding), box geometry
    ``region_boxes`` and detector class distributions ``region_classes``."""

    image: torch.Tensor | None = None
    features: torch.Tensor | None = None
    regions: torch.Tensor | None = None
    region_mask: torch.Tensor | None = None
    region_boxes: torch.Tensor | None = None
    region_classes: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class CaptionBatch(ImageInputs):
    """Image-caption pairs: the caption of each row in ``languages[i]`` (``variants[i]``:
    ``caption`` or ``codeswitched``); ``teacher_tokens`` are the English captions for a
    frozen teacher's tokenizer, ``region_labels`` (batch, patches) MC-MRM's classes."""

    keys: list[str]
    languages: list[str]
    tokens: torch.Tensor
    variants: list[str]
    teacher_tokens: torch.Tensor | None = None
    region_labels: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class TextBatch(TensorFields):
    """Monolingual sentences."""

    keys: list[str]
    languages: list[str]
    tokens: torch.Tensor


@dataclass(frozen=True, kw_only=True)
class PairBatch(TensorFields):
    """Translation pairs, English first when a pair has English; ``teacher_tokens`` are the
    source sentences for a frozen teacher's tokenizer."""

    keys: list[str]
    source_languages: list[str]
    target_languages: list[str]
    source_tokens: torch.Tensor
    target_tokens: torch.Tensor
    teacher_tokens: torch.Tensor


StreamBatch = Union[CaptionBatch, TextBatch, PairBatch]


@dataclass(frozen=True)
class BatchMeta:
    """Global batch number in the epoch, the logical worker that made it, and that
    worker's data cursor and counters per stream (for exact resumption and logging)."""

    index: int
    epoch: int
    worker: int
    cursor: Mapping[str, Any]
    counters: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class MixedBatch:
    """One step's sub-batch of every stream, by stream name."""

    streams: dict[str, StreamBatch]
    meta: BatchMeta

    def to(self, device: str | torch.device) -> "MixedBatch":
        return MixedBatch({name: batch.to(device) for name, batch in self.streams.items()}, self.meta)

    def pin_memory(self) -> "MixedBatch":
        return MixedBatch({name: batch.pin_memory() for name, batch in self.streams.items()}, self.meta)
