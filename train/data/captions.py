"""The caption stream kind: an image (or features) with one caption, in a sampled
language or code-switched (``variants``), decoded from caption shards."""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np
import torch

from babelshard.records import CODESWITCHED_LANGUAGE, ENGLISH, CaptionView
from babelshard.train.data.batches import CaptionBatch, encode
from babelshard.train.data.decode import DecodeError, VisualItem, choose, decode_visual
from babelshard.train.data.regions import collate_regions
from babelshard.train.data.teacher_features import read_teacher_features
from babelshard.train.data.tokenizer import Tokenizer
from babelshard.train.stream_config import CaptionStreamConfig

CAPTION_VARIANT, CODESWITCHED_VARIANT = "caption", "codeswitched"


class CaptionItem(NamedTuple):
    """One decoded caption sample; ``teacher_text`` is the English caption when the stream
    has ``teacher_tokens``; ``cs_variant`` the variant number of an online code-switch.
    (Items are built once per sample: a NamedTuple costs a fraction of a frozen dataclass.)"""

    key: str
    text: str
    language: str
    variant: str
    visual: VisualItem = VisualItem()
    teacher_text: str | None = None
    cs_variant: int | None = None
    more: tuple[tuple[str, str], ...] = ()  # further captions of the image: (text, language)
    teacher_features: tuple[np.ndarray, np.ndarray | None] | None = None  # precomputed (image, English text)


def codeswitched_text(view: CaptionView, rng: np.random.Generator) -> str | None:
    """The text of a random stored code-switched variant, or None when there is none."""
    variants = view.variants
    if not variants:
        return None
    return variants[int(rng.integers(len(variants)))].text


def decode_caption(view: CaptionView, stream: CaptionStreamConfig, weights: Mapping[str, float] | None,
                   rng: np.random.Generator) -> CaptionItem:
    langs = view.languages
    allowed = stream.languages
    if allowed is not None:
        langs = [lang for lang in langs if lang in allowed]
    if not langs:
        raise DecodeError("no caption in the configured languages")
    variant = choose(sorted(stream.variants), stream.variants, rng)
    lang = choose(langs, weights, rng)
    text = codeswitched_text(view, rng) if variant == CODESWITCHED_VARIANT else None
    if text is not None:
        lang = CODESWITCHED_LANGUAGE
    else:
        variant, text = CAPTION_VARIANT, view.caption(lang)
    teacher_text = None
    if stream.teacher_tokens:
        teacher_text = view.caption(ENGLISH) if view.has_caption(ENGLISH) else text
    visual = decode_visual(view, stream.image, stream.features, stream.region_labels, rng, stream.regions)
    teacher = read_teacher_features(view, stream.teacher_features) if stream.teacher_features is not None else None
    more = more_captions(view, langs, text, stream.captions_per_image - 1, rng)
    return CaptionItem(view.key, text, lang, variant, visual, teacher_text, more=more, teacher_features=teacher)


def more_captions(view: CaptionView, languages: list[str], taken: str, count: int,
                  rng: np.random.Generator) -> tuple[tuple[str, str], ...]:
    """``count`` further captions of the image in ``languages`` (each caption and extra
    caption once, in random order, then again from the start when there are fewer)."""
    if count <= 0:
        return ()
    extra = view.extra_captions
    pool = [(t, lang) for lang in languages for t in [view.caption(lang), *extra.get(lang, [])] if t != taken]
    if not pool:
        pool = [(taken, languages[0])]
    order = rng.permutation(len(pool))
    return tuple(pool[int(order[i % len(pool)])] for i in range(count))


def _stacked(arrays: list[np.ndarray | None]) -> torch.Tensor | None:
    return None if arrays[0] is None else torch.from_numpy(np.stack(arrays))


def rows_per_caption(items: list[CaptionItem]) -> list[CaptionItem]:
    """One item per caption: an item's further captions become rows of their own (same key and image)."""
    rows = []
    for item in items:
        rows.append(item)
        rows.extend(CaptionItem(item.key, text, lang, CAPTION_VARIANT, item.visual, item.teacher_text,
                                teacher_features=item.teacher_features)
                    for text, lang in item.more)
    return rows


def collate_captions(items: list[CaptionItem], tokenizer: Tokenizer, teacher: Tokenizer) -> CaptionBatch:
    items = rows_per_caption(items)
    languages = [it.language for it in items]
    teacher_tokens = None
    if items[0].teacher_text is not None:
        teacher_tokens = encode(teacher, [it.teacher_text for it in items], [ENGLISH] * len(items))
    regions = collate_regions([it.visual.regions for it in items]) if items[0].visual.regions is not None else None
    teacher = [it.teacher_features for it in items] if items[0].teacher_features is not None else None
    return CaptionBatch(
        keys=[it.key for it in items],
        languages=languages,
        tokens=encode(tokenizer, [it.text for it in items], languages),
        variants=[it.variant for it in items],
        teacher_tokens=teacher_tokens,
        image=_stacked([it.visual.image for it in items]),
        features=_stacked([it.visual.features for it in items]),
        region_labels=_stacked([it.visual.region_labels for it in items]),
        regions=None if regions is None else regions.features,
        region_mask=None if regions is None else regions.mask,
        region_boxes=None if regions is None else regions.boxes,
        region_classes=None if regions is None else regions.classes,
        teacher_image_features=None if teacher is None else _stacked([image for image, _ in teacher]),
        teacher_text_features=None if teacher is None else _stacked([text for _, text in teacher]),
    )
