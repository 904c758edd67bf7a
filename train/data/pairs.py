"""The parallel stream kind: translation pairs, English first when one side is English;
from parallel shards as stored, or from caption shards as English and a sampled other
caption language of one image."""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from babelshard.records import ENGLISH, CaptionView, ParallelView
from babelshard.train.data.batches import PairBatch, encode
from babelshard.train.data.decode import DecodeError, choose
from babelshard.train.data.tokenizer import Tokenizer
from babelshard.train.stream_config import ParallelStreamConfig


class PairItem(NamedTuple):
    key: str
    source_language: str
    target_language: str
    source_text: str
    target_text: str


def decode_pair(view: CaptionView | ParallelView, stream: ParallelStreamConfig, weights: Mapping[str, float] | None,
                rng: np.random.Generator) -> PairItem:
    if isinstance(view, CaptionView):
        return caption_pair(view, stream, weights, rng)
    src, tgt = view.languages
    if tgt == ENGLISH:
        src, tgt = tgt, src
    if stream.pair_languages is not None and tgt not in stream.pair_languages:
        raise DecodeError(f"pair language {tgt} not configured")
    return PairItem(view.key, src, tgt, view.text(src), view.text(tgt))


def caption_pair(view: CaptionView, stream: ParallelStreamConfig, weights: Mapping[str, float] | None,
                 rng: np.random.Generator) -> PairItem:
    """English and one other caption language of the same image."""
    if not view.has_caption(ENGLISH):
        raise DecodeError("no English caption")
    others = [lang for lang in view.languages if lang != ENGLISH]
    if stream.pair_languages is not None:
        others = [lang for lang in others if lang in stream.pair_languages]
    if not others:
        raise DecodeError("no caption in a pair language")
    tgt = choose(others, weights, rng)
    return PairItem(view.key, ENGLISH, tgt, view.caption(ENGLISH), view.caption(tgt))


def collate_pairs(items: list[PairItem], tokenizer: Tokenizer, teacher: Tokenizer) -> PairBatch:
    sources = [it.source_language for it in items]
    targets = [it.target_language for it in items]
    source_texts = [it.source_text for it in items]
    return PairBatch(
        keys=[it.key for it in items],
        source_languages=sources,
        target_languages=targets,
        source_tokens=encode(tokenizer, source_texts, sources),
        target_tokens=encode(tokenizer, [it.target_text for it in items], targets),
        teacher_tokens=encode(teacher, source_texts, sources),
    )
