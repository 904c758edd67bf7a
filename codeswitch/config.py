"""Config model of the code-switch stage (``JobConfig.codeswitch``)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from babelshard.configbase import StrictModel


def _language(code: str) -> str:
    from babelshard.codeswitch.languages import UnknownLanguageError, normalize_language

    try:
        return normalize_language(code)
    except UnknownLanguageError as error:
        raise ValueError(str(error)) from None


class LexiconSource(StrictModel):
    """One lexicon to load: a normalized parquet, or a dictionary read at load time."""

    format: Literal["parquet", "freedict", "muse", "cldr"] = "parquet"
    path: str | None = Field(None, description="fsspec URL (parquet, muse) or local .index path (freedict); none for cldr")
    source_language: str | None = Field(None, description="muse/freedict: taken from the file name when absent")
    target_language: str | None = None
    optional: bool = Field(False, description="skip (and report) a missing file instead of failing: 'FreeDict where installed'")

    @field_validator("source_language", "target_language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        return None if value is None else _language(value)

    @model_validator(mode="after")
    def _path_matches_format(self) -> "LexiconSource":
        if self.format == "cldr" and self.path is not None:
            raise ValueError("format cldr reads the emoji package and takes no path")
        if self.format != "cldr" and not self.path:
            raise ValueError(f"format {self.format} needs a path")
        return self


class CodeSwitchConfig(StrictModel):
    """Lexicons and ratios for M3P-style code-switched captions (``cs.json``)."""

    lexicons: tuple[LexiconSource, ...] = Field(..., min_length=1)
    source_language: str = "en"
    languages: tuple[str, ...] | None = Field(None, description="the language set C; default: every target language loaded")
    variants: int = Field(1, ge=1, le=64, description="K code-switched variants per caption")
    sent_ratio: float = Field(1.0, ge=0.0, le=1.0, description="probability that a variant is code-switched at all")
    word_ratio: float = Field(0.5, ge=0.0, le=1.0, description="β: probability that a translatable word is switched")
    language_mode: Literal["per_word", "per_caption"] = "per_word"
    translation_choice: Literal["uniform", "score"] = "uniform"
    max_translations: int = Field(8, ge=1, description="per term and language, best-scored first")
    min_score: float = Field(0.0, ge=0.0)
    min_relative_score: float = Field(0.0, ge=0.0, le=1.0, description="drop translations below this share of the term's best score")
    max_phrase_words: int = Field(4, ge=1, le=8)
    max_extra_words: int = Field(1, ge=0, description="a translation may be this many words longer than its term")
    seed: int = 0

    @field_validator("source_language")
    @classmethod
    def _known_source(cls, value: str) -> str:
        return _language(value)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one language, or leave languages out for all")
        return tuple(sorted({_language(code) for code in value}))

    @model_validator(mode="after")
    def _source_not_target(self) -> "CodeSwitchConfig":
        if self.languages and self.source_language in self.languages:
            raise ValueError(f"languages must not contain the source language {self.source_language!r}")
        return self


# The `codeswitch:` block of configs/demo.yaml: the emoji CLDR names are always there
# (en -> 13 languages); FreeDict dictionaries join where their Debian packages are installed.
DEMO_YAML = """\
codeswitch:
  lexicons:
    - {format: cldr}
    - {format: freedict, path: /usr/share/dictd/freedict-eng-fra.index, optional: true}
    - {format: freedict, path: /usr/share/dictd/freedict-eng-spa.index, optional: true}
  variants: 2
  sent_ratio: 1.0
  word_ratio: 0.5
  min_relative_score: 0.25
"""
