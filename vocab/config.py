"""Config of the vocabulary build (``babelshard vocab build CONFIG``), its own YAML file.

One frozen model per step; a step set to ``null`` (or left out) does not run, except
token counts, which every other step needs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from babelshard.configbase import StrictModel, load_model

DEFAULT_SPECIAL_TOKENS = ("<pad>", "<unk>", "<cls>", "<sep>", "<mask>")


class CountsConfig(StrictModel):
    """Token counts per language with the shared word tokenization."""

    lowercase: bool = Field(True, description="case-fold words before counting (and encoding)")
    include_punctuation: bool = Field(True, description="count punctuation tokens as well as words")


class SentencePieceConfig(StrictModel):
    """Train a SentencePiece model on a language-balanced sample, or take a user's model."""

    model_path: str | None = Field(None, description="an existing .model file (e.g. XLM-R's); no training then")
    model_type: Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = Field(8000, ge=8)
    character_coverage: float = Field(0.9995, gt=0.9, le=1.0, description="0.9995 suits CJK; 1.0 for small alphabets")
    alpha: float = Field(0.3, gt=0.0, le=1.0, description="language sampling q_i ∝ p_i^alpha")
    sample_sentences: int = Field(1_000_000, ge=1, description="size of the balanced training sample")
    byte_fallback: bool = Field(False, description="spell characters outside the coverage as UTF-8 bytes, never <unk>")
    user_defined_symbols: tuple[str, ...] = Field((), description="extra special tokens kept whole")
    max_sentence_length: int = Field(4192, ge=16)
    seed: int = 0


class FastTextConfig(StrictModel):
    """Word vectors per language: trained with fastText, or a user's .bin/.vec per language."""

    vectors: dict[str, str] = Field(default_factory=dict, description="language -> .bin or .vec to load instead of training")
    model: Literal["skipgram", "cbow"] = "skipgram"
    dim: int = Field(100, ge=2)
    epoch: int = Field(5, ge=1)
    min_count: int = Field(3, ge=1)
    minn: int = Field(3, ge=0)
    maxn: int = Field(6, ge=0)
    lr: float = Field(0.05, gt=0.0)
    window: int = Field(5, ge=1)
    negatives: int = Field(5, ge=1)
    bucket: int = Field(2_000_000, ge=0, description="subword hash buckets (memory: bucket x dim floats)")
    threads: int = Field(1, ge=1, description="1 gives reproducible vectors; more is faster but not deterministic")
    max_vec_words: int | None = Field(None, ge=1, description="read at most this many words from a .vec file")


class AlignmentConfig(StrictModel):
    """Orthogonal Procrustes of each language onto the pivot with lexicon pairs, CSLS refinement."""

    pivot: str = "en"
    lexicons: dict[str, str] = Field(
        default_factory=dict,
        description="language -> lexicon: a TSV of `pivot_word<TAB>word` pairs, or a codeswitch lexicon file",
    )
    test_size: int = Field(500, ge=0, description="held-out source words for precision@1")
    refine_iterations: int = Field(0, ge=0, description="CSLS refinement rounds after the first Procrustes")
    refine_max_rank: int = Field(15000, ge=10, description="only the most frequent words build refinement pairs")
    csls_k: int = Field(10, ge=1)
    csls_density_words: int = Field(
        20000, ge=1, description="CSLS densities use the N most frequent words of the other side (cost: vocab x N)"
    )
    seed: int = 0


class HybridConfig(StrictModel):
    """SMALR's hybrid embedding vocabulary: frequent words per language, shared clusters for the rest."""

    min_count: int | None = Field(4, ge=1, description="t: words seen at least t times keep their own token")
    top_k: int | None = Field(None, ge=1, description="or: the k most frequent words per language keep their own token")
    num_shared: int = Field(1000, ge=1, description="K: shared, language-agnostic cluster tokens")
    kmeans_iterations: int = Field(25, ge=1)
    backend: Literal["auto", "faiss", "sklearn"] = Field("auto", description="auto: faiss when installed, else scikit-learn")
    special_tokens: tuple[str, ...] = DEFAULT_SPECIAL_TOKENS
    seed: int = 0

    @model_validator(mode="after")
    def _one_threshold(self) -> "HybridConfig":
        if (self.min_count is None) == (self.top_k is None):
            raise ValueError("set exactly one of min_count (t) and top_k")
        if "<unk>" not in self.special_tokens:
            raise ValueError("special_tokens must contain <unk>")
        if len(set(self.special_tokens)) != len(self.special_tokens):
            raise ValueError("special_tokens has duplicates")
        return self


class VocabBeamConfig(StrictModel):
    runner: str = "DirectRunner"
    direct_num_workers: int = Field(1, ge=0)
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"
    options: dict[str, str] = Field(default_factory=dict, description="any other Beam pipeline option")


class VocabConfig(StrictModel):
    name: str = "vocab"
    captions: tuple[str, ...] = Field((), description="caption shard folders (every caption language is counted)")
    text: tuple[str, ...] = Field((), description="text shard folders, or roots whose subfolders are text shard folders")
    languages: tuple[str, ...] | None = Field(None, description="keep only these languages (each must have text)")
    output: str = Field(description="artifact folder, e.g. <root>/vocab beside the shards")
    counts: CountsConfig = CountsConfig()
    sentencepiece: SentencePieceConfig | None = None
    fasttext: FastTextConfig | None = None
    alignment: AlignmentConfig | None = None
    hybrid: HybridConfig | None = None
    beam: VocabBeamConfig = VocabBeamConfig()

    @model_validator(mode="after")
    def _steps_need_inputs(self) -> "VocabConfig":
        if not self.captions and not self.text:
            raise ValueError("give at least one caption or text shard folder")
        if self.alignment is not None and self.fasttext is None:
            raise ValueError("alignment needs the fasttext step")
        if self.hybrid is not None and self.fasttext is None:
            raise ValueError("hybrid needs the fasttext step")
        return self


def load_vocab_config(path: str | Path) -> VocabConfig:
    return load_model(VocabConfig, path)
