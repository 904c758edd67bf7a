"""Typed records at stage boundaries and their WebDataset encoding (DESIGN.md schema).

A record is a frozen dataclass; stages derive new records with ``dataclasses.replace``.
``to_sample`` gives the dict a tar writer stores (member name -> bytes) and
``from_sample`` reads it back.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

IMAGE_EXTENSIONS = ("jpg", "png", "webp")


_set_attribute = object.__setattr__


def stable_key(*parts: str) -> str:
    """A key that depends only on identity (e.g. source name and URL), safe as a tar stem."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:20]


def dump_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def decode_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


@dataclass(frozen=True)
class Caption:
    """A caption in one language with where it came from."""

    text: str
    provenance: str = "human"  # "human" or "mt"
    engine: str | None = None
    model: str | None = None
    score: float | None = None

    def provenance_json(self) -> dict:
        info: dict[str, Any] = {"provenance": self.provenance}
        for name in ("engine", "model", "score"):
            value = getattr(self, name)
            if value is not None:
                info[name] = value
        return info


@dataclass(frozen=True)
class CaptionSample:
    """One image with its English caption and captions in other languages.

    ``captions`` maps a language code to its :class:`Caption`; English (``en``) is the
    ``txt`` member, every other language a ``<lang>.txt`` member. ``extra_captions``
    keeps further captions of the same image (COCO has five) for evaluation.
    """

    key: str
    source: str
    url: str
    captions: Mapping[str, Caption]
    image: bytes | None = None
    image_format: str = "jpg"
    meta: Mapping[str, Any] = field(default_factory=dict)
    extra_captions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    codeswitched: tuple[Mapping[str, Any], ...] = ()
    features: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        return self.captions["en"].text

    @property
    def languages(self) -> list[str]:
        return sorted(self.captions)

    def to_sample(self) -> dict[str, Any]:
        sample: dict[str, Any] = {"__key__": self.key}
        if self.image is not None:
            if self.image_format not in IMAGE_EXTENSIONS:
                raise ValueError(f"{self.key}: unsupported image format {self.image_format!r}")
            sample[self.image_format] = self.image
        for lang, caption in self.captions.items():
            member = "txt" if lang == "en" else f"{lang}.txt"
            sample[member] = caption.text.encode("utf-8")
        meta = dict(self.meta)
        meta.update(
            source=self.source,
            url=self.url,
            languages={lang: c.provenance_json() for lang, c in sorted(self.captions.items())},
        )
        if self.extra_captions:
            meta["extra_captions"] = {lang: list(texts) for lang, texts in self.extra_captions.items()}
        sample["json"] = dump_json(meta)
        if self.codeswitched:
            sample["cs.json"] = dump_json(list(self.codeswitched))
        for name, array in self.features.items():
            sample[f"{name}.npy"] = encode_npy(array)
        return sample

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> "CaptionSample":
        meta = json.loads(sample["json"])
        provenance = meta.pop("languages", {})
        captions: dict[str, Caption] = {}
        image, image_format = None, "jpg"
        features: dict[str, np.ndarray] = {}
        for member, value in sample.items():
            if member in IMAGE_EXTENSIONS:
                image, image_format = value, member
            elif member == "txt" or member.endswith(".txt"):
                lang = "en" if member == "txt" else member[: -len(".txt")]
                info = provenance.get(lang, {})
                captions[lang] = Caption(
                    text=_text(value),
                    provenance=info.get("provenance", "human"),
                    engine=info.get("engine"),
                    model=info.get("model"),
                    score=info.get("score"),
                )
            elif member.endswith(".npy"):
                features[member[: -len(".npy")]] = decode_npy(value)
        codeswitched = tuple(json.loads(sample["cs.json"])) if "cs.json" in sample else ()
        extra = {lang: tuple(texts) for lang, texts in meta.pop("extra_captions", {}).items()}
        return cls(
            key=sample["__key__"],
            source=meta.pop("source"),
            url=meta.pop("url"),
            captions=captions,
            image=image,
            image_format=image_format,
            meta=meta,
            extra_captions=extra,
            codeswitched=codeswitched,
            features=features,
        )

    def language_counts(self) -> dict[str, int]:
        return {lang: 1 for lang in self.captions}


@dataclass(frozen=True)
class TextSample:
    """A monolingual sentence or document (stream ``text``)."""

    key: str
    text: str
    language: str
    source: str
    langid_score: float | None = None

    def __init__(self, key: str, text: str, language: str, source: str, langid_score: float | None = None):
        # The generated frozen __init__ sets each field through object.__setattr__; a text
        # job builds a record two or three times per sentence, so set them in one step.
        _set_attribute(self, "__dict__", {"key": key, "text": text, "language": language, "source": source, "langid_score": langid_score})

    def with_langid_score(self, score: float) -> "TextSample":
        # dataclasses.replace costs twice this; the language-ID stage calls it per sentence
        return TextSample(self.key, self.text, self.language, self.source, score)

    def to_sample(self) -> dict[str, Any]:
        meta = {"language": self.language, "source": self.source}
        if self.langid_score is not None:
            meta["langid_score"] = self.langid_score
        return {"__key__": self.key, "txt": self.text.encode("utf-8"), "json": dump_json(meta)}

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> "TextSample":
        meta = json.loads(sample["json"])
        return cls(
            key=sample["__key__"],
            text=_text(sample["txt"]),
            language=meta["language"],
            source=meta["source"],
            langid_score=meta.get("langid_score"),
        )

    def language_counts(self) -> dict[str, int]:
        return {self.language: 1}


@dataclass(frozen=True)
class ParallelPair:
    """A translation pair (stream ``parallel``): ``<src>.txt`` and ``<tgt>.txt`` members."""

    key: str
    source_language: str
    target_language: str
    source_text: str
    target_text: str
    source: str
    score: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_sample(self) -> dict[str, Any]:
        if self.source_language == self.target_language:
            raise ValueError(f"{self.key}: a pair needs two languages, got {self.source_language!r} twice")
        meta = dict(self.meta)
        meta.update(languages=[self.source_language, self.target_language], source=self.source)
        if self.score is not None:
            meta["score"] = self.score
        return {
            "__key__": self.key,
            f"{self.source_language}.txt": self.source_text.encode("utf-8"),
            f"{self.target_language}.txt": self.target_text.encode("utf-8"),
            "json": dump_json(meta),
        }

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> "ParallelPair":
        meta = json.loads(sample["json"])
        src, tgt = meta.pop("languages")
        return cls(
            key=sample["__key__"],
            source_language=src,
            target_language=tgt,
            source_text=_text(sample[f"{src}.txt"]),
            target_text=_text(sample[f"{tgt}.txt"]),
            source=meta.pop("source"),
            score=meta.pop("score", None),
            meta=meta,
        )

    def language_counts(self) -> dict[str, int]:
        return {f"{self.source_language}-{self.target_language}": 1}


RECORD_TYPES = {"caption": CaptionSample, "text": TextSample, "parallel": ParallelPair}


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)
