"""Region or grid features of a caption sample (M3P's image input), from ``.npy`` members.

An image has ``k`` regions: features ``[k, d]``, optionally box geometry ``[k, b]`` and
the detector's class distribution ``[k, C]``; the members' names come from the stream's
:class:`~babelshard.train.stream_config.RegionMembersConfig`. A batch pads every image
to the batch's most regions, with a mask that is True at padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from babelshard.records import CaptionView, feature_member
from babelshard.train.stream_config import RegionMembersConfig


class RegionDecodeError(ValueError):
    """Region members that are missing or do not agree on the number of regions."""


@dataclass(frozen=True)
class RegionItem:
    features: np.ndarray  # float32 [k, d]
    boxes: np.ndarray | None = None  # float32 [k, b]
    classes: np.ndarray | None = None  # float32 [k, C]


@dataclass(frozen=True)
class RegionTensors:
    """A batch's regions, padded: features (B, K, d), mask (B, K) True at padding, boxes
    (B, K, b) and class distributions (B, K, C) when the stream reads them."""

    features: torch.Tensor
    mask: torch.Tensor
    boxes: torch.Tensor | None
    classes: torch.Tensor | None


def _member(view: CaptionView, name: str, regions: int | None) -> np.ndarray:
    if not view.has_feature(name):
        raise RegionDecodeError(f"no {feature_member(name)} member")
    array = np.asarray(view.feature(name), dtype=np.float32)
    if array.ndim != 2 or array.shape[0] == 0:
        raise RegionDecodeError(f"{feature_member(name)}: expected [regions, dim], got shape {array.shape}")
    if regions is not None and array.shape[0] != regions:
        raise RegionDecodeError(f"{feature_member(name)}: {array.shape[0]} rows for {regions} regions")
    return array


def decode_regions(view: CaptionView, config: RegionMembersConfig) -> RegionItem:
    """The first ``max_regions`` regions of the sample's members."""
    features = _member(view, config.features, None)
    regions = features.shape[0]
    boxes = _member(view, config.boxes, regions) if config.boxes else None
    classes = _member(view, config.classes, regions) if config.classes else None
    keep = slice(0, config.max_regions)
    return RegionItem(features[keep], None if boxes is None else boxes[keep], None if classes is None else classes[keep])


def _padded(arrays: list[np.ndarray], length: int) -> torch.Tensor:
    out = np.zeros((len(arrays), length, arrays[0].shape[1]), dtype=np.float32)
    for row, array in enumerate(arrays):
        if array.shape[1] != out.shape[2]:
            raise RegionDecodeError(f"region members of width {array.shape[1]} and {out.shape[2]} in one batch")
        out[row, : len(array)] = array
    return torch.from_numpy(out)


def collate_regions(items: list[RegionItem]) -> RegionTensors:
    length = max(len(item.features) for item in items)
    mask = torch.ones(len(items), length, dtype=torch.bool)
    for row, item in enumerate(items):
        mask[row, : len(item.features)] = False
    boxes = _padded([it.boxes for it in items], length) if items[0].boxes is not None else None  # type: ignore[misc]
    classes = _padded([it.classes for it in items], length) if items[0].classes is not None else None  # type: ignore[misc]
    return RegionTensors(_padded([it.features for it in items], length), mask, boxes, classes)
