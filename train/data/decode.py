"""What every stream kind's decoder shares: the decode error, held-out keys, weighted
choices and the visual side of a caption sample.

A decoder takes a view of the raw sample (:mod:`babelshard.records`), the stream's
config, the language weights and the batch's random generator, and returns a typed
item or raises :class:`DecodeError` (counted by the caller, never fatal). Only the
members a stream needs are decoded.
"""
from __future__ import annotations

import bisect
import functools
import hashlib
from typing import Mapping, NamedTuple

import numpy as np

from babelshard.records import CaptionView, feature_member
from babelshard.train.data.regions import RegionDecodeError, RegionItem, decode_regions
from babelshard.train.data.transforms import ImageDecodeError, transform_image
from babelshard.train.stream_config import ImageConfig, RegionMembersConfig

DECODE_FAILURES = (KeyError, ValueError, UnicodeDecodeError, TypeError, IndexError, AttributeError)


class DecodeError(ValueError):
    """A sample that cannot become a training item; the message says why."""


def in_holdout(key: str, fraction: float) -> bool:
    """Whether a sample key falls in the held-out ``fraction`` (by a hash of the key, so
    training streams and evaluation agree without a list of keys)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) < fraction * (1 << 32)


def choose(options: list[str], weights: Mapping[str, float] | None, rng: np.random.Generator) -> str:
    """One option, weighted by ``weights`` renormalised over ``options`` (uniform when absent).

    The weighted draw is ``rng.choice(len(options), p=p / p.sum())`` without its per-call
    validation (tens of microseconds a sample): the same cumulative weights, one
    ``rng.random()``, the same right-sided search, so the same option and generator state."""
    if len(options) == 1:
        return options[0]
    if weights:
        cdf = cumulative_weights(tuple([float(weights.get(o, 0.0)) for o in options]))
        if cdf is not None:
            return options[bisect.bisect_right(cdf, rng.random())]
    return options[int(rng.integers(len(options)))]


@functools.lru_cache(maxsize=4096)
def cumulative_weights(weights: tuple[float, ...]) -> list[float] | None:
    """What ``Generator.choice`` searches for ``p = weights / sum``: ``p.cumsum()`` over its
    last value; None when the weights do not sum above 0 (the caller draws uniformly)."""
    p = np.asarray(weights)
    if not p.sum() > 0:
        return None
    p = p / p.sum()
    if (p < 0).any():
        raise ValueError("probabilities are not non-negative")
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return cdf.tolist()


class VisualItem(NamedTuple):
    """A caption sample's image side: the transformed image (float32 CHW), a feature
    vector, patch labels, region features; each only when the stream asks for it."""

    image: np.ndarray | None = None
    features: np.ndarray | None = None
    region_labels: np.ndarray | None = None
    regions: RegionItem | None = None


def decode_visual(view: CaptionView, image: ImageConfig | None, features: str | None, region_labels: str | None,
                  rng: np.random.Generator, regions: RegionMembersConfig | None = None) -> VisualItem:
    """The members named by the stream's ``image``, ``features``, ``region_labels`` and
    ``regions`` settings."""
    pixels = vector = labels = region_item = None
    if regions is not None:
        try:
            region_item = decode_regions(view, regions)
        except RegionDecodeError as error:
            raise DecodeError(f"regions: {error}") from None
    if image is not None:
        data = view.image
        if data is None:
            raise DecodeError("no image member")
        try:
            pixels = transform_image(data, image, rng)
        except ImageDecodeError as error:
            raise DecodeError(f"image: {error}") from None
    if features is not None:
        vector = np.asarray(_feature(view, features), dtype=np.float32).reshape(-1)
    if region_labels is not None:
        labels = np.asarray(_feature(view, region_labels), dtype=np.int64).reshape(-1)
    return VisualItem(pixels, vector, labels, region_item)


def _feature(view: CaptionView, name: str) -> np.ndarray:
    if not view.has_feature(name):
        raise DecodeError(f"no {feature_member(name)} member")
    return view.feature(name)
