"""fastText word vectors per language: trained on the built corpora or loaded from .bin/.vec.

:class:`WordVectors` holds the words (most frequent first, as fastText orders them), their
vectors, and for a ``.bin`` model the model itself, which gives unseen words a vector
from their character n-grams.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from babelshard.vocab.config import FastTextConfig
from babelshard.vocab.counts import VocabError

EOS = "</s>"  # fastText's end-of-line token, not a word


@dataclass
class WordVectors:
    language: str
    words: list[str]
    matrix: np.ndarray
    model: Any = field(default=None, repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.words):
            raise VocabError(f"{self.language}: {len(self.words)} words but a matrix of shape {self.matrix.shape}")
        if not self.words:
            raise VocabError(f"{self.language}: no word vectors ({self.source or 'empty input'})")
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @cached_property
    def index(self) -> dict[str, int]:
        return {word: row for row, word in enumerate(self.words)}

    def vector(self, word: str) -> np.ndarray | None:
        """The word's vector; for an unseen word its subword vector (``.bin`` only), else None."""
        row = self.index.get(word)
        if row is not None:
            return self.matrix[row]
        if self.model is not None:
            vector = np.asarray(self.model.get_word_vector(word), dtype=np.float32)
            return vector if np.any(vector) else None
        return None

    def lookup(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of ``words`` and a mask of the words that have one (zeros where not)."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        found = np.zeros(len(words), dtype=bool)
        for row, word in enumerate(words):
            vector = self.vector(word)
            if vector is not None:
                out[row], found[row] = vector, True
        return out, found


def _silence_fasttext() -> None:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None


def train_fasttext(corpus_path: str, language: str, config: FastTextConfig, model_path: str) -> WordVectors:
    """Train skipgram/cbow on a tokenized corpus (one line per text) and save the ``.bin``."""
    import fasttext

    _silence_fasttext()
    if not os.path.exists(corpus_path) or os.path.getsize(corpus_path) == 0:
        raise VocabError(f"{language}: no text to train fastText vectors on ({corpus_path})")
    model = fasttext.train_unsupervised(
        corpus_path, model=config.model, dim=config.dim, epoch=config.epoch, minCount=config.min_count,
        minn=config.minn, maxn=config.maxn, lr=config.lr, ws=config.window, neg=config.negatives,
        bucket=config.bucket, thread=config.threads, verbose=0,
    )
    os.makedirs(os.path.dirname(model_path) or ".", exist_ok=True)
    model.save_model(model_path)
    return vectors_from_model(model, language, source=model_path)


def vectors_from_model(model: Any, language: str, source: str = "") -> WordVectors:
    words = [word for word in model.get_words() if word != EOS]
    if not words:
        raise VocabError(f"{language}: the fastText model has no words ({source}); lower fasttext.min_count?")
    matrix = np.stack([model.get_word_vector(word) for word in words])
    return WordVectors(language, words, matrix, model=model, source=source)


def load_vectors(path: str, language: str, max_words: int | None = None) -> WordVectors:
    """A user's vectors: a fastText ``.bin`` (with subwords) or a text ``.vec`` file."""
    if not os.path.exists(path):
        raise VocabError(f"{language}: no vectors file {path}")
    if path.endswith(".bin"):
        import fasttext

        _silence_fasttext()
        try:
            model = fasttext.load_model(path)
        except ValueError as error:
            raise VocabError(f"{path}: not a fastText model ({error})") from None
        return vectors_from_model(model, language, source=path)
    return read_vec(path, language, max_words)


def read_vec(path: str, language: str, max_words: int | None = None) -> WordVectors:
    """A ``.vec`` file: an optional ``count dim`` header, then ``word v1 ... vd`` per line."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim: int | None = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if number == 1 and len(parts) == 2 and all(part.isdigit() for part in parts):
                dim = int(parts[1])
                continue
            if max_words is not None and len(words) >= max_words:
                break
            dim = dim if dim is not None else len(parts) - 1
            if len(parts) - 1 != dim:
                raise VocabError(f"{path}:{number}: {len(parts) - 1} values, expected dimension {dim}")
            try:
                rows.append(np.asarray(parts[1:], dtype=np.float32))
            except ValueError:
                raise VocabError(f"{path}:{number}: not a vector of numbers") from None
            words.append(parts[0])
    if not words:
        raise VocabError(f"{path}: no vectors")
    return WordVectors(language, words, np.stack(rows), source=path)


def write_vec(vectors: WordVectors, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{len(vectors.words)} {vectors.dim}\n")
        for word, row in zip(vectors.words, vectors.matrix):
            handle.write(word + " " + " ".join(f"{value:.5f}" for value in row) + "\n")
