"""The translation pairs of the caption samples, as one parallel shard folder (``parallel-mt``).

Captions are translated before their images are downloaded, so a record whose image
then fails has translations too. Its pairs (and its translation drops) are left out:
the folder holds the pairs of the caption stream's samples. The records that dropped
at download are read from the caption folder's failures files once its index is
written, which covers shards that an earlier run completed as well.
"""
from __future__ import annotations

from typing import Iterator

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from babelshard.pipelines.captions.download import STAGE as DOWNLOAD_STAGE
from babelshard.shards.bucket import read_failures
from babelshard.translate.config import TranslateConfig
from babelshard.translate.requests import pair_key

DROPS = "drops"


def download_failures(folder: str, num_shards: int) -> Iterator[str]:
    """Keys of the caption records that dropped at download, from every shard's failures file."""
    for number in range(num_shards):
        for row in read_failures(folder, number):
            if row["stage"] == DOWNLOAD_STAGE:
                yield row["key"]


def failures_once_written(_index, folder: str, num_shards: int) -> Iterator[str]:
    """:func:`download_failures`, run on the caption index so that every shard is written."""
    return download_failures(folder, num_shards)


def pair_keys(record_key: str, config: TranslateConfig) -> list[str]:
    """The keys a record's pairs and translation drops carry, one per target language."""
    return [pair_key(record_key, config.source_language, target) for target in sorted(config.targets)]


def by_key(item):
    return item.key, item


def keep_pairs_of_samples(grouped):
    """A pair or translation drop, unless its record dropped at download."""
    _, parts = grouped
    if parts["failed"]:
        Metrics.counter("mt_pairs", "left_out/download_failed").inc(len(parts["pairs"]) + len(parts[DROPS]))
        return
    yield from parts["pairs"]
    for drop in parts[DROPS]:
        yield pvalue.TaggedOutput(DROPS, drop)


class PairsOfSamples(beam.PTransform):
    """``{"pairs", "drops"} | PairsOfSamples(...)`` -> ``{"samples", "drops"}`` for ``WriteShards``.

    ``caption_index`` is the caption folder's index (a one-element PCollection) and
    ``num_shards`` its shard count (a singleton PCollection).
    """

    def __init__(self, config: TranslateConfig, caption_folder: str, caption_index, num_shards):
        super().__init__()
        self.config, self.caption_folder = config, caption_folder
        self.caption_index, self.num_shards = caption_index, num_shards

    def expand(self, inputs):
        num = beam.pvalue.AsSingleton(self.num_shards)
        failed = (
            self.caption_index
            | "DownloadFailures" >> beam.FlatMap(failures_once_written, self.caption_folder, num)
            | "PairKeys" >> beam.FlatMap(pair_keys, self.config)
            | "KeyFailed" >> beam.Map(lambda key: (key, None))
        )
        grouped = {
            "pairs": inputs["pairs"] | "KeyPairs" >> beam.Map(by_key),
            DROPS: inputs[DROPS] | "KeyDrops" >> beam.Map(by_key),
            "failed": failed,
        } | "GroupByPair" >> beam.CoGroupByKey()
        kept = grouped | "Keep" >> beam.FlatMap(keep_pairs_of_samples).with_outputs(DROPS, main="pairs")
        return {"samples": kept.pairs, DROPS: kept[DROPS]}
