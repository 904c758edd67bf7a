"""Load the lexicon a :class:`CodeSwitchConfig` names, once per process. No Beam.

Each source is read into the normalized table (parquet as is; FreeDict, MUSE and the
CLDR names through their importers), the tables are concatenated and turned into one
:class:`Lexicon`. Beam workers load it through the code-switch model stage
(RunInference keeps one per process); code outside Beam (the trainer's DataLoader
workers) takes one per process from :func:`cached_lexicon`.
"""
from __future__ import annotations

import functools
import logging

import pyarrow as pa

from babelshard import fs
from babelshard.codeswitch.config import CodeSwitchConfig, LexiconSource
from babelshard.codeswitch.lexfile import LEXICON_SCHEMA, LexiconError, pairs_to_table, read_lexicon
from babelshard.codeswitch.lexicon import Lexicon, LexiconBuild
from babelshard.codeswitch.transform import SwitchParams

log = logging.getLogger(__name__)


def read_source(source: LexiconSource) -> pa.Table | None:
    """The source's pairs as a lexicon table; ``None`` for a missing optional file."""
    if source.path is not None and not fs.exists(source.path):
        if source.optional:
            log.warning("lexicon %s not found; skipped (optional)", source.path)
            return None
        raise FileNotFoundError(f"lexicon not found: {source.path}")
    if source.format == "parquet":
        return read_lexicon(source.path)
    if source.format == "freedict":
        from babelshard.codeswitch.lexicons.freedict import import_freedict

        return pairs_to_table(import_freedict(source.path, source.source_language, source.target_language))
    if source.format == "muse":
        from babelshard.codeswitch.lexicons.muse import import_muse

        return pairs_to_table(import_muse(source.path, source.source_language, source.target_language))
    from babelshard.codeswitch.lexicons.cldr import import_cldr

    return pairs_to_table(import_cldr())


def build_options(cfg: CodeSwitchConfig) -> LexiconBuild:
    return LexiconBuild(
        source_language=cfg.source_language,
        languages=cfg.languages,
        max_translations=cfg.max_translations,
        min_score=cfg.min_score,
        min_relative_score=cfg.min_relative_score,
        max_phrase_words=cfg.max_phrase_words,
        max_extra_words=cfg.max_extra_words,
    )


def switch_params(cfg: CodeSwitchConfig) -> SwitchParams:
    return SwitchParams(
        sent_ratio=cfg.sent_ratio,
        word_ratio=cfg.word_ratio,
        language_mode=cfg.language_mode,
        translation_choice=cfg.translation_choice,
        seed=cfg.seed,
    )


def load_lexicon(cfg: CodeSwitchConfig) -> Lexicon:
    tables = [table for table in (read_source(source) for source in cfg.lexicons) if table is not None]
    if not tables:
        raise LexiconError("none of the configured lexicons is available (all optional and missing)")
    table = pa.concat_tables([t.select(LEXICON_SCHEMA.names).cast(LEXICON_SCHEMA) for t in tables])
    lexicon = Lexicon.from_table(table, build_options(cfg))
    if not lexicon.entries:
        raise LexiconError(f"no {cfg.source_language}->{list(cfg.languages or ['any'])} pairs in the configured lexicons")
    return lexicon


def cached_lexicon(cfg: CodeSwitchConfig) -> Lexicon:
    """:func:`load_lexicon` once per process and config, for code outside Beam."""
    return _lexicon_of(cfg.model_dump_json())


@functools.lru_cache(maxsize=4)
def _lexicon_of(config_json: str) -> Lexicon:
    return load_lexicon(CodeSwitchConfig.model_validate_json(config_json))
