"""The hybrid embedding vocabulary (SMALR's HEM) and its tokenizer.

Token ids: the special tokens first, then each language's own tokens (its frequent
words, languages in sorted order, each a contiguous range), then ``num_shared``
language-agnostic cluster tokens that rare words of every language share. An embedding
layer needs ``num_tokens`` rows instead of one per word per language.

Artifact folder (``<output>/hybrid``): ``hybrid.json`` (sizes, t or top-k, K, counts,
parameter counts, token ranges, fastText model paths), ``words.tsv`` (language, word,
token id, count for every counted word), ``centroids.npy`` (K x d, aligned space),
``vectors.npy`` (the aligned fastText vector of every language-specific token, in token
order; zeros for a word that had none) and ``transforms.npz`` (per language the
normalisation mean and alignment matrix), which send an unseen word's fastText subword
vector to its nearest cluster. :meth:`HybridVocab.initial_embeddings` gives one vector
per token from them: the vectors the vocabulary was built from, where an embedding
layer over it starts.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any, Mapping

import fsspec
import numpy as np

from babelshard.fs import filesystem, join
from babelshard.textnorm import detokenize
from babelshard.vocab.align import Normalizer
from babelshard.vocab.counts import VocabError, text_tokens

FORMAT_VERSION = 1
HYBRID_FOLDER = "hybrid"
FALLBACK_CACHE_SIZE = 1 << 20


@dataclass(frozen=True)
class LanguageTransform:
    """How a language's raw vectors reach the shared space: normalise, then multiply by W."""

    mean: np.ndarray
    matrix: np.ndarray

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        return Normalizer(self.mean).apply(vectors) @ self.matrix


@dataclass
class HybridVocab:
    special_tokens: tuple[str, ...]
    languages: tuple[str, ...]
    word_ids: dict[str, dict[str, int]]  # language -> word -> token id (frequent and rare words)
    word_counts: dict[str, dict[str, int]]
    language_ranges: dict[str, tuple[int, int]]  # language -> [start, end) of its own tokens
    centroids: np.ndarray
    transforms: dict[str, LanguageTransform]
    meta: dict[str, Any] = field(default_factory=dict)
    fasttext_paths: dict[str, str | None] = field(default_factory=dict)
    vectors: np.ndarray | None = None  # [num_language_specific, d]: aligned vectors of the own tokens
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _fallback: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for data-loader workers: fastText models and caches are rebuilt lazily."""
        state = dict(self.__dict__)
        state["_cache"], state["_fallback"] = {}, {}
        return state

    # sizes -----------------------------------------------------------------
    @property
    def num_special(self) -> int:
        return len(self.special_tokens)

    @property
    def num_language_specific(self) -> int:
        return sum(end - start for start, end in self.language_ranges.values())

    @property
    def num_shared(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def shared_offset(self) -> int:
        return self.num_special + self.num_language_specific

    @property
    def num_tokens(self) -> int:
        return self.shared_offset + self.num_shared

    @property
    def lowercase(self) -> bool:
        return bool(self.meta.get("lowercase", True))

    @property
    def include_punctuation(self) -> bool:
        return bool(self.meta.get("include_punctuation", True))

    def special_id(self, token: str) -> int:
        try:
            return self.special_tokens.index(token)
        except ValueError:
            raise KeyError(f"{token!r} is not a special token ({', '.join(self.special_tokens)})") from None

    @property
    def unk_id(self) -> int:
        return self.special_id("<unk>")

    def is_shared(self, token_id: int) -> bool:
        return self.shared_offset <= token_id < self.num_tokens

    def token_language(self, token_id: int) -> str | None:
        """The language owning a language-specific token; None for special and shared tokens."""
        for lang, (start, end) in self.language_ranges.items():
            if start <= token_id < end:
                return lang
        return None

    # encoding --------------------------------------------------------------
    def tokenize(self, text: str, lang: str) -> list[str]:
        self._check_language(lang)
        return text_tokens(text, self.lowercase, self.include_punctuation)

    def token_id(self, word: str, lang: str) -> int:
        """A word's token: its own, its cluster's, or (unseen) the cluster nearest its subword vector."""
        known = self.word_ids[lang].get(word)
        if known is not None:
            return known
        cached = self._fallback.get((lang, word))
        if cached is None:
            cached = self._nearest_cluster(word, lang)
            if len(self._fallback) >= FALLBACK_CACHE_SIZE:  # a long run meets endless new words
                self._fallback.clear()
            self._fallback[(lang, word)] = cached
        return cached

    def encode(self, text: str, lang: str) -> list[int]:
        return [self.token_id(word, lang) for word in self.tokenize(text, lang)]

    def decode(self, ids: list[int], lang: str) -> str:
        """Text of token ids; a shared token reads as its most frequent member in ``lang``."""
        return detokenize([self.id_to_word(token_id, lang) for token_id in ids])

    def id_to_word(self, token_id: int, lang: str) -> str:
        if 0 <= token_id < self.num_special:
            return self.special_tokens[token_id]
        if self.is_shared(token_id):
            members = self.cluster_members(token_id - self.shared_offset, per_language=1)
            chosen = members.get(lang) or next(iter(members.values()), [])
            return chosen[0] if chosen else f"<shared:{token_id - self.shared_offset}>"
        owner = self.token_language(token_id)
        if owner is None:
            raise ValueError(f"token id {token_id} is out of range (0..{self.num_tokens - 1})")
        return self._id_words()[token_id]

    def cluster_members(self, cluster: int, per_language: int = 5) -> dict[str, list[str]]:
        """The most frequent rare words of each language in one shared cluster."""
        members = self._cluster_index().get(cluster, {})
        return {lang: words[:per_language] for lang, words in sorted(members.items())}

    def _cluster_index(self) -> dict[int, dict[str, list[str]]]:
        if "clusters" not in self._cache:
            index: dict[int, dict[str, list[str]]] = {}
            for lang in self.languages:
                ordered = sorted(self.word_ids[lang].items(), key=lambda kv: (-self.word_counts[lang][kv[0]], kv[0]))
                for word, token_id in ordered:
                    if self.is_shared(token_id):
                        index.setdefault(token_id - self.shared_offset, {}).setdefault(lang, []).append(word)
            self._cache["clusters"] = index
        return self._cache["clusters"]

    def _id_words(self) -> dict[int, str]:
        if "id_words" not in self._cache:
            self._cache["id_words"] = {
                token_id: word for words in self.word_ids.values() for word, token_id in words.items()
                if not self.is_shared(token_id)
            }
        return self._cache["id_words"]

    def _nearest_cluster(self, word: str, lang: str) -> int:
        model = self._fasttext(lang)
        if model is None:
            return self.unk_id
        vector = np.asarray(model.get_word_vector(word), dtype=np.float32)
        if not np.any(vector):
            return self.unk_id
        point = self.transforms[lang].apply(vector[None, :])
        distances = ((self.centroids - point) ** 2).sum(axis=1)
        return self.shared_offset + int(distances.argmin())

    def _fasttext(self, lang: str):
        key = f"fasttext:{lang}"
        if key not in self._cache:
            path = self.fasttext_paths.get(lang)
            if path is None:
                self._cache[key] = None
            else:
                from babelshard.vocab.vectors import load_vectors

                self._cache[key] = load_vectors(_local_file(path), lang).model
        return self._cache[key]

    def _check_language(self, lang: str) -> None:
        if lang not in self.word_ids:
            raise KeyError(f"language {lang!r} is not in this vocabulary ({', '.join(self.languages)})")

    # parameters ------------------------------------------------------------
    def parameter_counts(self, dim: int | None = None) -> dict[str, float]:
        """Embedding parameters of the hybrid vocabulary vs one embedding per word per language."""
        dim = dim or int(self.meta.get("dim") or self.centroids.shape[1])
        per_word = self.num_special + sum(len(words) for words in self.word_ids.values())
        return {
            "dim": dim, "hybrid": self.num_tokens * dim, "per_word_per_language": per_word * dim,
            "reduction": 1.0 - self.num_tokens / per_word if per_word else 0.0,
        }

    def initial_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(vectors [num_tokens, d], has_vector [num_tokens]): each language-specific token's
        aligned fastText vector, each shared token's cluster centroid; special tokens (and
        words without a vector) have none (zero rows)."""
        own = self.vectors if self.vectors is not None else self._vectors_from_fasttext()
        dim = self.centroids.shape[1]
        matrix = np.concatenate([np.zeros((self.num_special, dim), np.float32), own, self.centroids]).astype(np.float32)
        has_vector = np.any(matrix != 0, axis=1)
        has_vector[: self.num_special] = False
        return matrix, has_vector

    def _vectors_from_fasttext(self) -> np.ndarray:
        """For artifacts written before ``vectors.npy``: the own tokens' vectors from the
        recorded fastText models."""
        rows = np.zeros((self.num_language_specific, self.centroids.shape[1]), np.float32)
        id_words = self._id_words()
        for lang, (start, end) in self.language_ranges.items():
            model = self._fasttext(lang)
            if model is None:
                raise VocabError(f"{lang}: this hybrid vocabulary has no vectors.npy and no fastText model to rebuild "
                                 "its vectors from; rebuild it with `babelshard vocab build`")
            raw = np.stack([model.get_word_vector(id_words[i]) for i in range(start, end)]) if end > start else rows[:0]
            rows[start - self.num_special: end - self.num_special] = self.transforms[lang].apply(raw)
        return rows

    # storage ---------------------------------------------------------------
    def save(self, folder: str) -> None:
        rows = [
            f"{lang}\t{word}\t{token_id}\t{self.word_counts[lang][word]}\n"
            for lang in self.languages
            for word, token_id in sorted(self.word_ids[lang].items(), key=lambda kv: (kv[1], kv[0]))
        ]
        _write(join(folder, "words.tsv"), "".join(rows).encode("utf-8"))
        _write(join(folder, "centroids.npy"), _npy(self.centroids))
        if self.vectors is not None:
            _write(join(folder, "vectors.npy"), _npy(self.vectors))
        arrays = {f"{lang}.mean": t.mean for lang, t in self.transforms.items()}
        arrays.update({f"{lang}.matrix": t.matrix for lang, t in self.transforms.items()})
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        _write(join(folder, "transforms.npz"), buffer.getvalue())
        _write(join(folder, "hybrid.json"), self._header_json(folder))

    def _header_json(self, folder: str) -> bytes:
        header = dict(self.meta)
        header.update(
            format_version=FORMAT_VERSION, special_tokens=list(self.special_tokens), languages=list(self.languages),
            language_ranges={lang: list(r) for lang, r in self.language_ranges.items()},
            num_tokens=self.num_tokens, num_language_specific=self.num_language_specific,
            num_shared=self.num_shared, parameters=self.parameter_counts(),
            fasttext={lang: _relative(path, folder) for lang, path in sorted(self.fasttext_paths.items())},
        )
        return (json.dumps(header, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def load(cls, folder: str) -> "HybridVocab":
        """Load an artifact folder (``<output>/hybrid``, or ``<output>`` holding one)."""
        if not _exists(join(folder, "hybrid.json")) and _exists(join(folder, HYBRID_FOLDER, "hybrid.json")):
            folder = join(folder, HYBRID_FOLDER)
        header = _read_header(folder)
        languages = tuple(header["languages"])
        word_ids: dict[str, dict[str, int]] = {lang: {} for lang in languages}
        word_counts: dict[str, dict[str, int]] = {lang: {} for lang in languages}
        for line in _read(join(folder, "words.tsv")).decode("utf-8").splitlines():
            lang, word, token_id, count = line.split("\t")
            word_ids[lang][word] = int(token_id)
            word_counts[lang][word] = int(count)
        arrays = np.load(io.BytesIO(_read(join(folder, "transforms.npz"))), allow_pickle=False)
        transforms = {lang: LanguageTransform(arrays[f"{lang}.mean"], arrays[f"{lang}.matrix"]) for lang in languages}
        paths = {lang: _absolute(path, folder) for lang, path in header.get("fasttext", {}).items()}
        meta = {key: value for key, value in header.items() if key not in _DERIVED}
        return cls(
            special_tokens=tuple(header["special_tokens"]), languages=languages, word_ids=word_ids,
            word_counts=word_counts, language_ranges={k: tuple(v) for k, v in header["language_ranges"].items()},
            centroids=np.load(io.BytesIO(_read(join(folder, "centroids.npy"))), allow_pickle=False),
            transforms=transforms, meta=meta, fasttext_paths=paths, vectors=_optional_npy(join(folder, "vectors.npy")),
        )


_DERIVED = ("format_version", "special_tokens", "languages", "language_ranges", "num_tokens",
            "num_language_specific", "num_shared", "parameters", "fasttext")


def _read_header(folder: str) -> Mapping[str, Any]:
    path = join(folder, "hybrid.json")
    if not _exists(path):
        raise VocabError(f"{folder}: no hybrid.json; not a hybrid vocabulary artifact (or its build has not finished)")
    header = json.loads(_read(path))
    if header.get("format_version") != FORMAT_VERSION:
        raise VocabError(f"{path}: format version {header.get('format_version')!r}; this babelshard reads {FORMAT_VERSION}")
    return header


def _relative(path: str | None, folder: str) -> str | None:
    if path is None or "://" in path or "://" in folder:
        return path
    return os.path.relpath(os.path.abspath(path), os.path.abspath(folder))


def _absolute(path: str | None, folder: str) -> str | None:
    if path is None or "://" in path or os.path.isabs(path):
        return path
    if "://" in folder:  # a URL: resolve "../" without normpath, which would eat the "//"
        scheme, _, rest = folder.partition("://")
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, path))}"
    return os.path.normpath(os.path.join(folder, path))


def _local_file(path: str) -> str:
    """fastText reads local files only: a remote model is copied to the cache once."""
    if "://" not in path:
        return path
    from babelshard.langid import cache_dir

    fs, remote = filesystem(path)
    local = os.path.join(cache_dir(), "vocab", hashlib.sha1(path.encode("utf-8")).hexdigest()[:16] + ".bin")
    if not os.path.exists(local):
        os.makedirs(os.path.dirname(local), exist_ok=True)
        fs.get(remote, local + ".partial")
        os.replace(local + ".partial", local)
    return local


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _optional_npy(url: str) -> np.ndarray | None:
    return np.load(io.BytesIO(_read(url)), allow_pickle=False) if _exists(url) else None


def _exists(url: str) -> bool:
    from babelshard.fs import exists

    return exists(url)


def _read(url: str) -> bytes:
    with fsspec.open(url, "rb") as handle:
        return handle.read()


def _write(url: str, data: bytes) -> None:
    from babelshard.fs import write_bytes_atomic

    write_bytes_atomic(url, data)
