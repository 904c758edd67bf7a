"""Beam transforms of the vocabulary build: token counts over shards, per language.

``shard refs | ReadShards() | CountTokens(...)`` gives ``((language, token), count)``;
``WriteCounts(folder)`` groups them by language and writes ``counts/<lang>.tsv``.
"""
from __future__ import annotations

from functools import partial
from typing import Iterable

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from babelshard.stage import ApplyStage
from babelshard.vocab.config import CountsConfig, VocabBeamConfig
from babelshard.vocab.counts import ShardRef, read_shard, record_token_counts, write_language_counts


class ReadShards(beam.PTransform):
    """Shard references -> typed records, one shard per element so runners spread the reading."""

    def expand(self, refs):
        return (refs | "Reshuffle" >> beam.Reshuffle() | "Records" >> ApplyStage("vocab_read", read_shard)).main


class CountTokens(beam.PTransform):
    """Records -> ((language, token), count) summed over the whole input."""

    def __init__(self, settings: CountsConfig = CountsConfig(), languages: Iterable[str] | None = None):
        super().__init__()
        self.settings = settings
        self.languages = frozenset(languages) if languages is not None else None

    def expand(self, records):
        count = partial(record_token_counts, settings=self.settings, languages=self.languages)
        tokens = records | "Tokens" >> ApplyStage("vocab_counts", count)
        return tokens.main | "Sum" >> beam.CombinePerKey(sum)


def _by_language(item):
    (lang, token), count = item
    return lang, (token, count)


def _write_language(item, folder: str) -> str:
    lang, counts = item
    write_language_counts(folder, lang, counts)
    return lang


class WriteCounts(beam.PTransform):
    """((language, token), count) -> ``counts/<lang>.tsv`` files; outputs the languages written."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def expand(self, counts):
        return (
            counts
            | "ByLanguage" >> beam.Map(_by_language)
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.Map(_write_language, self.folder)
        )


def pipeline_options(config: VocabBeamConfig) -> PipelineOptions:
    options = {"runner": config.runner, **config.options}
    if config.runner == "DirectRunner":
        options.update(direct_num_workers=config.direct_num_workers, direct_running_mode=config.direct_running_mode)
    return PipelineOptions.from_dictionary({key: str(value) for key, value in options.items()})


def run_count_pipeline(refs: list[ShardRef], folder: str, beam_config: VocabBeamConfig, settings: CountsConfig,
                       languages: Iterable[str] | None) -> None:
    """Count tokens of every shard and write ``counts/<lang>.tsv`` under ``folder``."""
    with beam.Pipeline(options=pipeline_options(beam_config)) as pipeline:
        _ = (
            pipeline
            | "Shards" >> beam.Create(refs)
            | "Read" >> ReadShards()
            | "Count" >> CountTokens(settings, languages)
            | "WriteCounts" >> WriteCounts(folder)
        )
