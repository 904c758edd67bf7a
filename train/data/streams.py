"""The stream kinds: per kind, the shard streams it reads (with the view of each), its
decoder, its collate function and its batch type.

| kind | reads | item -> batch |
|---|---|---|
| ``caption`` | caption shards (:class:`~babelshard.records.CaptionView`) | :class:`CaptionItem` -> :class:`CaptionBatch` |
| ``text`` | text shards (:class:`~babelshard.records.TextView`) | :class:`TextItem` -> :class:`TextBatch` |
| ``parallel`` | parallel shards, or caption shards (English + another caption) | :class:`PairItem` -> :class:`PairBatch` |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from babelshard.configbase import ConfigError
from babelshard.records import CaptionView, ParallelView, SampleView, TextView
from babelshard.train.data.batches import CaptionBatch, PairBatch, StreamBatch, TextBatch
from babelshard.train.data.captions import collate_captions, decode_caption
from babelshard.train.data.decode import DECODE_FAILURES, DecodeError
from babelshard.train.data.pairs import collate_pairs, decode_pair
from babelshard.train.data.texts import collate_texts, decode_text
from babelshard.train.data.tokenizer import Tokenizer
from babelshard.train.stream_config import StreamConfig


@dataclass(frozen=True)
class StreamKind:
    name: str
    views: Mapping[str, type[SampleView]]  # shard stream (index.json) -> the view its samples are read through
    decode: Callable[[Any, Any, Mapping[str, float] | None, np.random.Generator], Any]
    collate: Callable[[list[Any], Tokenizer, Tokenizer], StreamBatch]
    batch: type

    def view_of(self, shard_stream: str, where: str) -> type[SampleView]:
        """The view for the samples of a folder whose index says ``shard_stream``."""
        view = self.views.get(shard_stream)
        if view is None:
            raise ConfigError(f"{where}: a {self.name} stream reads {' or '.join(self.views)} shards, "
                             f"this folder holds {shard_stream} shards")
        return view


STREAM_KINDS: dict[str, StreamKind] = {
    "caption": StreamKind("caption", {"caption": CaptionView}, decode_caption, collate_captions, CaptionBatch),
    "text": StreamKind("text", {"text": TextView}, decode_text, collate_texts, TextBatch),
    "parallel": StreamKind("parallel", {"parallel": ParallelView, "caption": CaptionView}, decode_pair, collate_pairs, PairBatch),
}


def decode_item(view: SampleView, stream: StreamConfig, weights: Mapping[str, float] | None, rng: np.random.Generator) -> Any:
    """The stream kind's decoder, with every decoding failure turned into DecodeError."""
    try:
        return STREAM_KINDS[stream.kind].decode(view, stream, weights, rng)
    except DecodeError:
        raise
    except DECODE_FAILURES as error:
        raise DecodeError(f"{type(error).__name__}: {error}") from None
