"""Config models of the translation stage: engines, targets, cache, filters, batching.

``targets`` maps each target language to the name of an engine in ``engines``; an
engine's ``kind`` picks its model (``ctranslate2`` or ``apertium``), so a key that does
not belong to that kind is an error naming it.
"""
from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from babelshard.configbase import StrictModel
from babelshard.langid import LanguageIdConfig

Language = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$", description="e.g. es, pt_BR")]


class CTranslate2EngineConfig(StrictModel):
    """A converted CTranslate2 model directory with its SentencePiece model(s)."""

    kind: Literal["ctranslate2"]
    model_path: str = Field(description="converted model directory (local, or an fsspec URL copied to the worker)")
    model_id: str | None = Field(None, description="recorded in captions and cache keys; default: dir name + fingerprint")
    source_spm: str | None = Field(None, description="default: source.spm, sentencepiece.bpe.model or spm.model in model_path")
    target_spm: str | None = Field(None, description="default: target.spm, else the source SentencePiece model")
    language_tokens: Literal["none", "m2m100", "nllb"] = Field(
        "none", description="none: single-pair (Marian/OPUS-MT); m2m100/nllb: source and target-prefix language tokens"
    )
    language_codes: dict[str, str] = Field(default_factory=dict, description="override language -> model token, e.g. es: spa_Latn")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compute_type: str = Field("auto", description="auto: int8_float16 on CUDA, int8 on CPU; or any CTranslate2 type")
    device_index: int = Field(0, ge=0)
    threads: int = Field(0, ge=0, description="intra-op threads per translation (0: CTranslate2's default)")
    inter_threads: int = Field(1, ge=1, description="batches translated in parallel")
    max_batch_tokens: int = Field(4096, ge=1, description="max_batch_size with batch_type='tokens'")
    beam_size: int = Field(4, ge=1)
    max_decoding_length: int = Field(256, ge=1)
    max_input_tokens: int = Field(256, ge=8, description="longer inputs are split or truncated, and counted")
    long_inputs: Literal["split", "truncate"] = "split"
    repetition_penalty: float = Field(1.0, gt=0)
    no_repeat_ngram_size: int = Field(0, ge=0)


class ApertiumEngineConfig(StrictModel):
    """Rule-based Apertium through its command line (Debian ``apertium-<a>-<b>`` packages)."""

    kind: Literal["apertium"]
    command: str = "apertium"
    modes: dict[str, str] = Field(default_factory=dict, description="override pair -> Apertium mode, e.g. en-ca: eng-cat_valencia")
    model_id: str | None = Field(None, description="default: apertium/<mode>")
    timeout_s: float = Field(600.0, gt=0, description="per batch")


EngineConfig = Annotated[Union[CTranslate2EngineConfig, ApertiumEngineConfig], Field(discriminator="kind")]


class CacheConfig(StrictModel):
    """Duplicates are always translated once per run; ``url`` adds a cache kept across runs."""

    url: str | None = Field(None, description="fsspec URL of the persistent translation cache (parquet files)")
    read: bool = True
    write: bool = True
    files_per_pair: int = Field(4, ge=1, le=256, description="parquet files a run writes per language pair")


class FilterConfig(StrictModel):
    """Quality checks on each translation; a failed check drops that language with its reason."""

    enabled: bool = True
    min_length_ratio: float = Field(0.3, gt=0, description="target chars / source chars")
    max_length_ratio: float = Field(3.0, gt=0)
    length_ratio_overrides: dict[str, tuple[float, float]] = Field(default_factory=dict, description="per target, e.g. zh: [0.1, 1.5]")
    length_ratio_min_chars: int = Field(12, ge=1, description="sources shorter than this skip the ratio check")
    max_copy_ratio: float = Field(0.8, gt=0, le=1, description="share of target words found in the source")
    copy_min_words: int = Field(3, ge=1, description="targets with fewer words skip the copy-ratio check")
    max_ngram: int = Field(4, ge=1, description="longest n-gram checked for loops")
    max_repeats: int = Field(3, ge=1, description="an n-gram repeated back to back more often than this is a loop")
    language_id: bool = True
    lid_model_path: str | None = Field(None, description="lid.176.ftz; default: extracted into babelshard's cache")
    lid_min_words: int = Field(3, ge=1, description="shorter translations skip the language check")
    lid_min_target_score: float = Field(
        0.05, ge=0, le=1, description="when another language wins, the target still passes with this much (ca read as es)"
    )
    also_accept: dict[str, list[str]] = Field(default_factory=dict, description="extra fastText labels per target, e.g. no: [nb, nn]")
    min_score: float | None = Field(None, description="drop translations whose engine score is below this")

    @cached_property
    def lid(self) -> LanguageIdConfig:
        """The language check as the one language-ID config (the keys above stay as they are:
        the caption job's config hash, which marks its shards complete, is over them)."""
        return LanguageIdConfig(
            enabled=self.enabled and self.language_id, model_path=self.lid_model_path,
            min_score=self.lid_min_target_score, also_accept=self.also_accept,
        )

    @model_validator(mode="after")
    def _ratio_bounds(self) -> "FilterConfig":
        bounds = [(self.min_length_ratio, self.max_length_ratio), *self.length_ratio_overrides.values()]
        if any(low >= high for low, high in bounds):
            raise ValueError("each length ratio lower bound must be below its upper bound")
        return self


class BatchingConfig(StrictModel):
    """RunInference batching and model sharing."""

    min_batch_size: int = Field(32, ge=1, description="BatchElements starts here and adapts up to max_batch_size")
    max_batch_size: int = Field(256, ge=1, description="sentences per RunInference batch")
    max_batch_duration_secs: int | None = Field(None, ge=1, description="streaming: flush a batch after this long")
    share_model_per_machine: bool = Field(False, description="one model per machine shared by all processes (GPU workers)")
    model_copies: int | None = Field(None, ge=1, description="exact number of models per machine (implies sharing)")


class TranslateOutputs(StrictModel):
    captions: bool = Field(True, description="<lang>.txt members in the caption shards")
    parallel: bool = Field(False, description="parallel shards (en.txt, <lang>.txt, json) from the same translations")


class TranslateConfig(StrictModel):
    """Engines, target languages, cache and quality filters for caption translation."""

    source_language: Language = "en"
    targets: dict[Language, str] = Field(min_length=1, description="target language -> engine name")
    engines: dict[str, EngineConfig] = Field(min_length=1)
    when_human_exists: Literal["keep", "translate"] = Field(
        "keep", description="keep: no translation where a human caption exists; translate: MT takes the slot, the human caption moves to extra_captions"
    )
    cache: CacheConfig = CacheConfig()
    filters: FilterConfig = FilterConfig()
    batching: BatchingConfig = BatchingConfig()
    outputs: TranslateOutputs = TranslateOutputs()
    input_folder: str | None = Field(None, description="caption shard folder that `babelshard translate` reads")

    @model_validator(mode="after")
    def _targets_have_engines(self) -> "TranslateConfig":
        for language, engine in self.targets.items():
            if engine not in self.engines:
                raise ValueError(f"target {language!r} names engine {engine!r}, not in engines ({', '.join(self.engines)})")
            if language == self.source_language:
                raise ValueError(f"target {language!r} is the source language")
        return self
