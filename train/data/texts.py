"""The text stream kind: monolingual sentences from text shards."""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from babelshard.records import TextView
from babelshard.train.data.batches import TextBatch, encode
from babelshard.train.data.tokenizer import Tokenizer
from babelshard.train.stream_config import TextStreamConfig


class TextItem(NamedTuple):
    key: str
    text: str
    language: str


def decode_text(view: TextView, stream: TextStreamConfig, weights: Mapping[str, float] | None,
                rng: np.random.Generator) -> TextItem:
    return TextItem(view.key, view.text, view.language)


def collate_texts(items: list[TextItem], tokenizer: Tokenizer, teacher: Tokenizer) -> TextBatch:
    languages = [it.language for it in items]
    return TextBatch(keys=[it.key for it in items], languages=languages,
                     tokens=encode(tokenizer, [it.text for it in items], languages))
