"""Config models of the monolingual text and parallel text streams.

Each source names its format with ``format:``; the format picks the model, so a key
that does not belong to that format is an error naming it. Every source has one
claimed language (or one language pair): the job builds one branch, and one shard
folder, per language (``<output>/text/<lang>``) and per pair
(``<output>/parallel/<src>-<tgt>``).
"""
from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from babelshard.configbase import StrictModel
from babelshard.langid import LanguageIdConfig
from babelshard.textnorm import LengthBounds

LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"
Language = Annotated[str, Field(pattern=LANGUAGE_PATTERN, description="BCP-47 / gettext code, e.g. de, pt_BR, zh-Hant")]
Paths = Annotated[list[str], Field(min_length=1, description="file paths or glob patterns (Beam file systems)")]
ChineseScript = Literal["keep", "t2s"]


def _check_char_bounds(settings):
    if settings.min_chars > settings.max_chars:
        raise ValueError(f"min_chars ({settings.min_chars}) is larger than max_chars ({settings.max_chars})")
    return settings


class SourceBase(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="recorded in every sample's json and in its key")
    paths: Paths


class Cc100Source(SourceBase):
    """One sentence (or paragraph) per line, a blank line between documents; .xz/.gz/.zst read as is."""

    format: Literal["cc100"]
    language: Language


class WikipediaSource(SourceBase):
    """Plain extracted Wikipedia text: WikiExtractor ``<doc ...>`` blocks (title line skipped) or one paragraph per line."""

    format: Literal["wikipedia"]
    language: Language


class JsonlSource(SourceBase):
    """One JSON object per line; the text at ``text_field`` (dots reach into nested objects)."""

    format: Literal["jsonl"]
    language: Language
    text_field: str = "text"
    id_field: str | None = Field(None, description="a stable id for the key; default: the line number")


TextSource = Annotated[Union[Cc100Source, WikipediaSource, JsonlSource], Field(discriminator="format")]


class TextCleanConfig(StrictModel):
    """Per-sentence cleaning: NFC, splitting, length bounds, exact dedup."""

    split_sentences: bool = True
    min_chars: int = Field(10, ge=1)
    max_chars: int = Field(2000, ge=1)
    min_words: int = Field(2, ge=0, description="word tokens (each CJK character is one)")
    dedup: bool = Field(True, description="keep one sentence per language and normalised text")
    chinese: ChineseScript = Field("keep", description="t2s: Traditional to Simplified (needs opencc) for zh sources")

    @model_validator(mode="after")
    def _bounds(self):
        return _check_char_bounds(self)

    @cached_property
    def lengths(self) -> LengthBounds:
        return LengthBounds(self.min_chars, self.max_chars, self.min_words)


class StreamJobBase(StrictModel):
    """What the text and parallel jobs share: language ID, and how records move through
    Beam (in batches from reading to language ID)."""

    lid: LanguageIdConfig = LanguageIdConfig()
    batch_size: int = Field(1000, ge=1, description="records per Beam element from reading to language ID")
    dedup_buckets: int = Field(
        64, ge=1, description="groups of the dedup shuffle; one bucket's rows sit in one worker's memory, "
        "so raise it to about lines / 1,000,000 for big corpora"
    )

    @field_validator("sources", check_fields=False)
    @classmethod
    def _unique_names(cls, sources):
        names = [source.name for source in sources]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"source names must be unique; repeated: {', '.join(repeated)}")
        return sources


class TextJobConfig(StreamJobBase):
    """Monolingual text sources, cleaning and language-balanced weights."""

    sources: list[TextSource] = Field(min_length=1)
    clean: TextCleanConfig = TextCleanConfig()
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="q_i ∝ p_i^alpha in weights.json (0.3: M3P, unified mVLP)")

    @property
    def languages(self) -> list[str]:
        return sorted({source.language for source in self.sources})


class ParallelSourceBase(SourceBase):
    source_language: Language
    target_language: Language

    @model_validator(mode="after")
    def _two_languages(self):
        if self.source_language == self.target_language:
            raise ValueError(f"source_language and target_language are both {self.source_language!r}")
        return self


class WikiMatrixSource(ParallelSourceBase):
    """WikiMatrix TSV: margin score, source sentence, target sentence."""

    format: Literal["wikimatrix"]


class TsvPairSource(ParallelSourceBase):
    """Tab-separated pairs with configurable columns."""

    format: Literal["tsv"]
    source_column: int = Field(0, ge=0)
    target_column: int = Field(1, ge=0)
    score_column: int | None = Field(None, ge=0)
    skip_header: bool = False


class MosesSource(ParallelSourceBase):
    """OPUS Moses: two line-aligned files; ``paths`` match the source side (``*.<src>``, optionally compressed)
    and the target file is the same name ending in ``.<tgt>``."""

    format: Literal["moses"]


class TmxSource(ParallelSourceBase):
    """TMX translation memories; ``<tuv xml:lang>`` matched on the primary subtag (en-US is en)."""

    format: Literal["tmx"]


class PoSource(ParallelSourceBase):
    """gettext .po files: msgid (source_language, usually en) and msgstr (target_language)."""

    format: Literal["po"]
    source_language: Language = "en"
    include_fuzzy: bool = Field(False, description="fuzzy entries are unreviewed guesses; dropped by default")


ParallelSource = Annotated[
    Union[WikiMatrixSource, TsvPairSource, MosesSource, TmxSource, PoSource], Field(discriminator="format")
]


class PairFilterConfig(StrictModel):
    """Per-pair filters (the unified mVLP's WikiMatrix recipe: score, ratio, LID both sides)."""

    min_score: float | None = Field(None, description="pairs with a score below this are dropped (WikiMatrix: 1.04)")
    min_chars: int = Field(1, ge=1, description="per side")
    max_chars: int = Field(1000, ge=1, description="per side")
    max_length_ratio: float = Field(3.0, ge=1.0, description="longer / shorter side in word tokens")
    drop_identical: bool = True
    dedup: bool = True
    chinese: ChineseScript = "keep"

    @model_validator(mode="after")
    def _bounds(self):
        return _check_char_bounds(self)

    @cached_property
    def lengths(self) -> LengthBounds:
        """Bounds on each side."""
        return LengthBounds(self.min_chars, self.max_chars)


class ParallelJobConfig(StreamJobBase):
    """Parallel corpora sources and pair filters."""

    sources: list[ParallelSource] = Field(min_length=1)
    filters: PairFilterConfig = PairFilterConfig()
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="q_i ∝ p_i^alpha over pairs (0.2: mCLIP text-encoder data)")

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return sorted({(source.source_language, source.target_language) for source in self.sources})
