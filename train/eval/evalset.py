"""The evaluation set: decoded images (or features) and every caption per language.

Caption shards are read in order, one shard at a time. A shard that cannot be read
(missing, not a tar, not the size its index entry says, wrong checksum with ``verify``)
is skipped and counted in ``shard_errors``, as the training streams do; an image that cannot be decoded is
counted in ``skipped``. Every caption of an image counts: the ``<lang>.txt`` member and
the metadata's ``extra_captions``. Samples written by ``babelshard benchmark prepare``
carry the 1K ``fold`` they belong to (COCO, STAIR), which :func:`image_groups` uses.
"""
from __future__ import annotations

import logging
import tarfile
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch

from babelshard.errors import UserError
from babelshard.fs import join
from babelshard.records import CaptionView
from babelshard.shards.index import read_index
from babelshard.shards.reader import ShardIntegrityError, open_shard_bytes
from babelshard.shards.tarscan import scan_samples
from babelshard.train.config import EvalConfig
from babelshard.train.data.decode import DecodeError, decode_visual, in_holdout

log = logging.getLogger("babelshard.train.eval")

SHARD_READ_ERRORS = (ShardIntegrityError, tarfile.TarError, OSError, EOFError)


class EvalDataError(UserError):
    """Evaluation data that gives nothing to evaluate (no samples, no folds)."""


@dataclass
class EvalSet:
    """Decoded images (or features) and, per language, captions with their image index;
    ``folds[i]``: image i's 1K fold (None when the sample has none)."""

    keys: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    features: list[np.ndarray] = field(default_factory=list)
    captions: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    skipped: int = 0
    folds: list[int | None] = field(default_factory=list)
    shard_errors: int = 0

    def counts(self) -> dict[str, int]:
        return {"images": len(self.keys), "skipped": self.skipped, "shard_errors": self.shard_errors}


def read_folder(folder: str, verify: bool, data: EvalSet) -> Iterator[dict[str, Any]]:
    """Raw samples of every readable shard of ``folder``; unreadable shards are counted."""
    index = read_index(folder)
    for shard in index.shards:
        where = join(folder, shard.name)
        try:
            content = open_shard_bytes(folder, shard, verify)
            if len(content) != shard.bytes:  # a tar cut at a block boundary scans as a shorter tar
                raise ShardIntegrityError(f"{where}: {len(content)} bytes, index says {shard.bytes}")
            samples = scan_samples(content, where=where)
        except SHARD_READ_ERRORS as error:
            data.shard_errors += 1
            log.warning("skipping unreadable shard %s: %s", where, error)
            continue
        yield from samples


def add_sample(data: EvalSet, view: CaptionView, config: EvalConfig) -> None:
    image = config.image.model_copy(update={"random_crop": False}) if config.features is None else None
    try:
        visual = decode_visual(view, image, config.features, None, np.random.default_rng(0))
    except DecodeError:
        data.skipped += 1
        return
    index = len(data.keys)
    data.keys.append(view.key)
    if visual.image is not None:
        data.images.append(visual.image)
    else:
        data.features.append(visual.features)
    meta = view.meta if "json" in view.raw else {}
    data.folds.append(meta.get("fold"))
    extra = view.extra_captions
    for lang in view.languages:
        if config.languages is None or lang in config.languages:
            texts = [view.caption(lang), *extra.get(lang, [])]
            data.captions.setdefault(lang, []).extend((text, index) for text in texts)


def load_eval_set(config: EvalConfig) -> EvalSet:
    """The images (centre crop, no randomness) or features of the evaluated samples, with
    every caption in the evaluated languages."""
    data = EvalSet()
    for folder in config.folders:
        for raw in read_folder(folder, config.verify, data):
            view = CaptionView(raw)
            if config.holdout is not None and not in_holdout(view.key, config.holdout):
                continue
            add_sample(data, view, config)
    if not data.keys:
        unreadable = f" ({data.shard_errors} unreadable shards)" if data.shard_errors else ""
        raise EvalDataError(f"no evaluation samples in {', '.join(config.folders)}{unreadable}")
    return data


def first_images(data: EvalSet, count: int | None) -> EvalSet:
    """The first ``count`` images and their captions."""
    if count is None or count >= len(data.keys):
        return data
    captions = {lang: [(text, i) for text, i in caps if i < count] for lang, caps in data.captions.items()}
    return EvalSet(data.keys[:count], data.images[:count], data.features[:count], captions, data.skipped,
                   data.folds[:count], data.shard_errors)


def image_groups(data: EvalSet, folds: bool) -> list[tuple[int | None, torch.Tensor]]:
    """The image sets ranked separately: every image at once, or with ``folds`` each 1K fold
    (the COCO-1K protocol: recalls are computed per fold, then averaged)."""
    if not folds:
        return [(None, torch.arange(len(data.keys)))]
    members: dict[int, list[int]] = {}
    for index, fold in enumerate(data.folds):
        if fold is not None:
            members.setdefault(int(fold), []).append(index)
    if not members:
        raise EvalDataError("eval.folds is set but no evaluated sample has a fold (prepare coco or stair test)")
    return [(fold, torch.tensor(members[fold])) for fold in sorted(members)]
