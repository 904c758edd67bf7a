"""Tokenizers the trainer uses: fixed-length id rows with a known pad id.

Every tokenizer encodes a list of texts into ``(len(texts), max_length)`` int64 rows,
padded with ``pad_id``. They are pickled into DataLoader workers, so heavy objects
(SentencePiece processors, transformers tokenizers) load lazily in each process.
"""
from __future__ import annotations

import copy
import hashlib
from typing import Any, Protocol

import numpy as np

from babelshard.textnorm import clean_text, tokenize_words
from babelshard.train.config import TokenizerConfig


class Tokenizer(Protocol):
    vocab_size: int
    pad_id: int
    max_length: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _fit(rows: list[list[int]], max_length: int, pad_id: int) -> np.ndarray:
    out = np.full((len(rows), max_length), pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        row = row[:max_length]
        out[i, : len(row)] = row
    return out


class HashTokenizer:
    """Words of ``textnorm.tokenize_words`` hashed (blake2b) into ``vocab_size`` ids.

    Ids 0-3 are pad, begin, end and unknown. Collisions are rare at the vocabulary
    sizes used for small runs and do not depend on any trained artifact, so this works
    before the vocabulary issue's SentencePiece model exists.
    """

    PAD, BOS, EOS, UNK = 0, 1, 2, 3
    SPECIALS = 4

    def __init__(self, vocab_size: int = 8192, max_length: int = 32, lowercase: bool = True):
        self.vocab_size, self.max_length, self.lowercase = vocab_size, max_length, lowercase
        self.pad_id = self.PAD
        self._cache: dict[str, int] = {}

    def word_id(self, word: str) -> int:
        cached = self._cache.get(word)
        if cached is None:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            cached = self.SPECIALS + int.from_bytes(digest, "little") % (self.vocab_size - self.SPECIALS)
            if len(self._cache) < 1_000_000:
                self._cache[word] = cached
        return cached

    def ids(self, text: str) -> list[int]:
        text = clean_text(text)
        if self.lowercase:
            text = text.casefold()
        return [self.BOS, *(self.word_id(w) for w in tokenize_words(text)), self.EOS]

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            row = self.ids(text)
            if len(row) > self.max_length:
                row = row[: self.max_length - 1] + [self.EOS]
            rows.append(row)
        return _fit(rows, self.max_length, self.pad_id)


class SentencePieceTokenizer:
    """A SentencePiece ``.model`` file; BOS/EOS added when the model defines them."""

    def __init__(self, path: str, max_length: int = 32, lowercase: bool = False):
        self.path, self.max_length, self.lowercase = path, max_length, lowercase
        processor = self._processor()
        self.vocab_size = processor.get_piece_size()
        pad = processor.pad_id()
        self.pad_id = pad if pad >= 0 else 0

    def _processor(self) -> Any:
        processor = self.__dict__.get("_sp")
        if processor is None:
            import sentencepiece

            processor = sentencepiece.SentencePieceProcessor(model_file=self.path)
            self.__dict__["_sp"] = processor
        return processor

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_sp"}

    def encode(self, texts: list[str]) -> np.ndarray:
        sp = self._processor()
        cleaned = [clean_text(t).casefold() if self.lowercase else clean_text(t) for t in texts]
        bos, eos = sp.bos_id(), sp.eos_id()
        rows = []
        for ids in sp.encode(cleaned):
            row = ([bos] if bos >= 0 else []) + list(ids)
            limit = self.max_length - (1 if eos >= 0 else 0)
            rows.append(row[:limit] + ([eos] if eos >= 0 else []))
        return _fit(rows, self.max_length, self.pad_id)


class TransformersTokenizer:
    """A local ``transformers`` tokenizer directory (e.g. the one beside an XLM-R checkpoint)."""

    def __init__(self, path: str, max_length: int = 32):
        self.path, self.max_length = path, max_length
        tokenizer = self._tokenizer()
        self.vocab_size = len(tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def _tokenizer(self) -> Any:
        tokenizer = self.__dict__.get("_tok")
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.__dict__["_tok"] = tokenizer
        return tokenizer

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_tok"}

    def encode(self, texts: list[str]) -> np.ndarray:
        out = self._tokenizer()(
            [clean_text(t) for t in texts],
            max_length=self.max_length,
            truncation=True,
            padding="max_length",
            return_tensors="np",
        )
        return out["input_ids"].astype(np.int64)


def with_max_length(tokenizer: Tokenizer, max_length: int | None) -> Tokenizer:
    """The tokenizer, giving rows of ``max_length`` tokens (a shallow copy; itself when None)."""
    if max_length is None or max_length == tokenizer.max_length:
        return tokenizer
    shorter = copy.copy(tokenizer)
    shorter.max_length = max_length
    return shorter


class OpenClipTokenizer:
    """An OpenCLIP architecture's tokenizer (``open_clip.get_tokenizer``; pad id 0)."""

    def __init__(self, model: str, max_length: int = 77):
        self.model, self.max_length, self.pad_id = model, max_length, 0
        self.vocab_size = int(getattr(self._tokenizer(), "vocab_size", 49408))

    def _tokenizer(self) -> Any:
        tokenizer = self.__dict__.get("_tok")
        if tokenizer is None:
            try:
                import open_clip
            except ImportError:
                from babelshard.errors import UserError

                raise UserError("tokenizer kind open_clip needs the open_clip_torch package (docs/models.md)") from None
            tokenizer = open_clip.get_tokenizer(self.model, context_length=self.max_length)
            self.__dict__["_tok"] = tokenizer
        return tokenizer

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_tok"}

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._tokenizer()([clean_text(t) for t in texts]), dtype=np.int64)


class TwoVocabularyTokenizer:
    """Rows of ``native`` tokens followed by ``english`` tokens of the same text (MLA with
    a non-English vocabulary of its own: the model reads the half of each text's language).
    ``vocab_size`` and ``pad_id`` are the native tokenizer's; ``english_offset`` is where
    the English half starts."""

    def __init__(self, native: Tokenizer, english: Tokenizer):
        self.native, self.english = native, english
        self.vocab_size, self.pad_id = native.vocab_size, native.pad_id
        self.english_offset = native.max_length
        self.max_length = native.max_length + english.max_length

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.concatenate([self.native.encode(texts), self.english.encode(texts)], axis=1)


def build_tokenizer(config: TokenizerConfig) -> Tokenizer:
    if config.english is not None:
        native = build_tokenizer(config.model_copy(update={"english": None}))
        return TwoVocabularyTokenizer(native, build_tokenizer(config.english))
    return build_one_tokenizer(config)


def build_one_tokenizer(config: TokenizerConfig) -> Tokenizer:
    if config.kind == "hash":
        return HashTokenizer(config.vocab_size, config.max_length, config.lowercase)
    if config.kind == "sentencepiece":
        return SentencePieceTokenizer(str(config.path), config.max_length, config.lowercase)
    if config.kind == "hybrid":
        from babelshard.train.models.smalr import HybridTokenizer

        return HybridTokenizer(str(config.path), config.max_length)
    if config.kind == "open_clip":
        return OpenClipTokenizer(str(config.path), config.max_length)
    return TransformersTokenizer(str(config.path), config.max_length)
