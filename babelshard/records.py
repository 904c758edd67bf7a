"""The shard schema (DESIGN.md): typed records, their WebDataset members, and read views.

This module is the one place that knows member names. A record is a frozen dataclass;
stages derive new records with ``dataclasses.replace``. ``to_sample`` gives the dict a
tar writer stores (member name -> bytes) and ``from_sample`` reads it back. Readers that
need a few members of a sample (the trainer, evaluation, ``babelshard inspect``) wrap
the raw dict in a view (:class:`CaptionView`, :class:`TextView`, :class:`ParallelView`)
that decodes only what is asked for.

| member | content |
|---|---|
| ``txt`` / ``<lang>.txt`` | the English caption / the caption (caption shards) or sentence (parallel shards) in ``<lang>`` |
| ``jpg`` / ``png`` / ``webp`` | the image |
| ``cs.json`` | code-switched variants, a list of :meth:`CodeSwitchVariant.as_json` |
| ``json`` | metadata |
| ``<name>.npy`` | a feature array |
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

IMAGE_EXTENSIONS = ("jpg", "png", "webp")
ENGLISH = "en"
TEXT_MEMBER = "txt"  # the English caption of a caption sample; the sentence of a text sample
TEXT_SUFFIX = ".txt"
META_MEMBER = "json"
CODESWITCH_MEMBER = "cs.json"
FEATURE_SUFFIX = ".npy"
# The language tag the trainer gives a code-switched caption as a whole (its tokens carry
# their own tags). Never a language code: "cs" would be Czech. A BCP 47 private-use tag
# alone is not a valid language tag (langcodes rejects it). Not written into shards.
CODESWITCHED_LANGUAGE = "x-codeswitch"


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


def caption_member(lang: str) -> str:
    """``txt`` for English, ``<lang>.txt`` for any other caption language."""
    return TEXT_MEMBER if lang == ENGLISH else f"{lang}{TEXT_SUFFIX}"


def text_member(lang: str) -> str:
    """A parallel pair's side: ``<lang>.txt`` (English included)."""
    return f"{lang}{TEXT_SUFFIX}"


def member_language(member: str) -> str | None:
    """The language of a text member (``txt`` is English), or None for any other member."""
    if member == TEXT_MEMBER:
        return ENGLISH
    return member[: -len(TEXT_SUFFIX)] if member.endswith(TEXT_SUFFIX) else None


def feature_member(name: str) -> str:
    return f"{name}{FEATURE_SUFFIX}"


def feature_name(member: str) -> str | None:
    return member[: -len(FEATURE_SUFFIX)] if member.endswith(FEATURE_SUFFIX) else None


def image_member(sample: Mapping[str, Any]) -> str | None:
    """The sample's image member (its extension is the format), if it has one."""
    for member in IMAGE_EXTENSIONS:
        if member in sample:
            return member
    return None


@dataclass(frozen=True)
class CodeSwitchVariant:
    """One code-switched variant of a caption: variant number, text, tokens and one
    language tag per token."""

    variant: int
    text: str
    tokens: tuple[str, ...]
    langs: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "text": self.text, "tokens": list(self.tokens), "langs": list(self.langs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CodeSwitchVariant":
        return cls(int(data["variant"]), str(data["text"]), tuple(data["tokens"]), tuple(data["langs"]))


def encode_variants(variants: Sequence[CodeSwitchVariant]) -> bytes:
    return dump_json([v.as_json() for v in variants])


def decode_variants(data: bytes) -> tuple[CodeSwitchVariant, ...]:
    return tuple(CodeSwitchVariant.from_json(v) for v in json.loads(data))


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
    keeps further captions of the same image (COCO has five) for evaluation;
    ``codeswitched`` the code-switched variants of the English caption (``cs.json``).
    """

    key: str
    source: str
    url: str
    captions: Mapping[str, Caption]
    image: bytes | None = None
    image_format: str = "jpg"
    meta: Mapping[str, Any] = field(default_factory=dict)
    extra_captions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    codeswitched: tuple[CodeSwitchVariant, ...] = ()
    features: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def caption(self) -> str:
        return self.captions[ENGLISH].text

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
            sample[caption_member(lang)] = caption.text.encode("utf-8")
        meta = dict(self.meta)
        meta.update(
            source=self.source,
            url=self.url,
            languages={lang: c.provenance_json() for lang, c in sorted(self.captions.items())},
        )
        if self.extra_captions:
            meta["extra_captions"] = {lang: list(texts) for lang, texts in self.extra_captions.items()}
        sample[META_MEMBER] = dump_json(meta)
        if self.codeswitched:
            sample[CODESWITCH_MEMBER] = encode_variants(self.codeswitched)
        for name, array in self.features.items():
            sample[feature_member(name)] = encode_npy(array)
        return sample

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> "CaptionSample":
        meta = json.loads(sample[META_MEMBER])
        provenance = meta.pop("languages", {})
        captions: dict[str, Caption] = {}
        image, image_format = None, "jpg"
        features: dict[str, np.ndarray] = {}
        for member, value in sample.items():
            lang, name = member_language(member), feature_name(member)
            if member in IMAGE_EXTENSIONS:
                image, image_format = value, member
            elif lang is not None:
                info = provenance.get(lang, {})
                captions[lang] = Caption(
                    text=_text(value),
                    provenance=info.get("provenance", "human"),
                    engine=info.get("engine"),
                    model=info.get("model"),
                    score=info.get("score"),
                )
            elif name is not None:
                features[name] = decode_npy(value)
        codeswitched = decode_variants(sample[CODESWITCH_MEMBER]) if CODESWITCH_MEMBER in sample else ()
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
        return {"__key__": self.key, TEXT_MEMBER: self.text.encode("utf-8"), META_MEMBER: dump_json(meta)}

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> "TextSample":
        meta = json.loads(sample[META_MEMBER])
        return cls(
            key=sample["__key__"],
            text=_text(sample[TEXT_MEMBER]),
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
            text_member(self.source_language): self.source_text.encode("utf-8"),
            text_member(self.target_language): self.target_text.encode("utf-8"),
            META_MEMBER: dump_json(meta),
        }

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> "ParallelPair":
        meta = json.loads(sample[META_MEMBER])
        src, tgt = meta.pop("languages")
        return cls(
            key=sample["__key__"],
            source_language=src,
            target_language=tgt,
            source_text=_text(sample[text_member(src)]),
            target_text=_text(sample[text_member(tgt)]),
            source=meta.pop("source"),
            score=meta.pop("score", None),
            meta=meta,
        )

    def language_counts(self) -> dict[str, int]:
        return {f"{self.source_language}-{self.target_language}": 1}


RECORD_TYPES = {"caption": CaptionSample, "text": TextSample, "parallel": ParallelPair}


class SampleView:
    """A raw sample (member name -> bytes, as a shard reader yields it) seen through the
    schema; members are decoded when asked for, the metadata once."""

    __slots__ = ("raw", "_meta")

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self._meta: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return self.raw["__key__"]

    @property
    def url(self) -> str:
        """Where the sample was read from (the shard reader's ``__url__``), if known."""
        return self.raw.get("__url__", "")

    @property
    def meta(self) -> dict[str, Any]:
        if self._meta is None:
            self._meta = json.loads(self.raw[META_MEMBER])
        return self._meta


class CaptionView(SampleView):
    """A caption sample: captions per language, the image, code-switched variants, features."""

    __slots__ = ()

    @property
    def languages(self) -> list[str]:
        """Every language with a caption member, sorted."""
        return list(caption_languages(tuple(self.raw)))

    def has_caption(self, lang: str) -> bool:
        return caption_member(lang) in self.raw

    def caption(self, lang: str) -> str:
        return _text(self.raw[caption_member(lang)])

    @property
    def image_format(self) -> str | None:
        return image_member(self.raw)

    @property
    def image(self) -> bytes | None:
        member = image_member(self.raw)
        return None if member is None else self.raw[member]

    @property
    def variants(self) -> tuple[CodeSwitchVariant, ...]:
        data = self.raw.get(CODESWITCH_MEMBER)
        return () if data is None else decode_variants(data)

    def has_feature(self, name: str) -> bool:
        return feature_member(name) in self.raw

    def feature(self, name: str) -> np.ndarray:
        return decode_npy(self.raw[feature_member(name)])

    @property
    def extra_captions(self) -> dict[str, list[str]]:
        """Further captions per language from the metadata (empty without a ``json`` member)."""
        return self.meta.get("extra_captions", {}) if META_MEMBER in self.raw else {}


@functools.lru_cache(maxsize=1024)
def caption_languages(members: tuple[str, ...]) -> tuple[str, ...]:
    """The sorted caption languages of a sample with these members (samples of a shard
    mostly share one member list, so this runs once per list)."""
    langs = [member[: -len(TEXT_SUFFIX)] for member in members if member.endswith(TEXT_SUFFIX)]
    if TEXT_MEMBER in members:
        langs.append(ENGLISH)
    return tuple(sorted(langs))


class TextView(SampleView):
    """A text sample: the sentence and its language."""

    __slots__ = ()

    @property
    def text(self) -> str:
        return _text(self.raw[TEXT_MEMBER])

    @property
    def language(self) -> str:
        return self.meta["language"]


class ParallelView(SampleView):
    """A translation pair: its two languages (source first) and each side's text."""

    __slots__ = ()

    @property
    def languages(self) -> tuple[str, str]:
        src, tgt = self.meta["languages"]
        return src, tgt

    def text(self, lang: str) -> str:
        return _text(self.raw[text_member(lang)])


RECORD_VIEWS = {"caption": CaptionView, "text": TextView, "parallel": ParallelView}


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else str(value)
