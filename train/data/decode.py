"""Turning raw shard samples into training items, one plain function per stream kind.

Each function takes the raw sample (member name -> bytes), the stream's config, the
language weights and the batch's random generator, and returns an item dict or raises
:class:`DecodeError` (counted by the caller, never fatal). Only the members a stream
needs are decoded.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np

from babelshard.records import IMAGE_EXTENSIONS, decode_npy
from babelshard.textnorm import detokenize
from babelshard.train.config import StreamConfig
from babelshard.train.data.transforms import ImageDecodeError, transform_image

CODESWITCHED = "cs"


def in_holdout(key: str, fraction: float) -> bool:
    """Whether a sample key falls in the held-out ``fraction`` (by a hash of the key, so
    training streams and evaluation agree without a list of keys)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) < fraction * (1 << 32)


class DecodeError(ValueError):
    """A sample that cannot become a training item; the message says why."""


def caption_languages(raw: Mapping[str, Any]) -> list[str]:
    langs = ["en"] if "txt" in raw else []
    langs += [m[: -len(".txt")] for m in raw if m.endswith(".txt")]
    return sorted(langs)


def caption_text(raw: Mapping[str, Any], lang: str) -> str:
    member = raw["txt" if lang == "en" else f"{lang}.txt"]
    return member.decode("utf-8") if isinstance(member, (bytes, bytearray)) else str(member)


def choose(options: list[str], weights: Mapping[str, float] | None, rng: np.random.Generator) -> str:
    """One option, weighted by ``weights`` renormalised over ``options`` (uniform when absent)."""
    if len(options) == 1:
        return options[0]
    if weights:
        p = np.asarray([float(weights.get(o, 0.0)) for o in options])
        if p.sum() > 0:
            return options[int(rng.choice(len(options), p=p / p.sum()))]
    return options[int(rng.integers(len(options)))]


def codeswitched_text(raw: Mapping[str, Any], rng: np.random.Generator) -> str | None:
    """A random variant of ``cs.json`` (list of variants: ``{"text"}`` or ``{"tokens":
    [[token, lang], ...]}`` or ``{"tokens": [...], "languages": [...]}``), or None."""
    if "cs.json" not in raw:
        return None
    variants = json.loads(raw["cs.json"])
    if not variants:
        return None
    variant = variants[int(rng.integers(len(variants)))]
    if isinstance(variant, dict) and "text" in variant:
        return str(variant["text"])
    tokens = variant.get("tokens") if isinstance(variant, dict) else variant
    words = [t[0] if isinstance(t, (list, tuple)) else str(t) for t in tokens or []]
    return detokenize(words) if words else None


def decode_image(raw: Mapping[str, Any], stream: StreamConfig, rng: np.random.Generator) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if stream.image is not None:
        member = next((m for m in IMAGE_EXTENSIONS if m in raw), None)
        if member is None:
            raise DecodeError("no image member")
        try:
            item["image"] = transform_image(raw[member], stream.image, rng)
        except ImageDecodeError as error:
            raise DecodeError(f"image: {error}") from None
    if stream.features is not None:
        name = f"{stream.features}.npy"
        if name not in raw:
            raise DecodeError(f"no {name} member")
        item["features"] = np.asarray(decode_npy(raw[name]), dtype=np.float32).reshape(-1)
    if stream.region_labels is not None:
        name = f"{stream.region_labels}.npy"
        if name not in raw:
            raise DecodeError(f"no {name} member")
        item["region_labels"] = np.asarray(decode_npy(raw[name]), dtype=np.int64).reshape(-1)
    return item


def caption_item(raw: Mapping[str, Any], stream: StreamConfig, weights: Mapping[str, float] | None, rng: np.random.Generator) -> dict[str, Any]:
    langs = caption_languages(raw)
    if stream.languages is not None:
        langs = [lang for lang in langs if lang in stream.languages]
    if not langs:
        raise DecodeError("no caption in the configured languages")
    variant = choose(sorted(stream.variants), stream.variants, rng)
    lang = choose(langs, weights, rng)
    text = codeswitched_text(raw, rng) if variant == "codeswitched" else None
    if text is not None:
        lang = CODESWITCHED
    else:
        variant, text = "caption", caption_text(raw, lang)
    item = {"key": raw["__key__"], "text": text, "lang": lang, "variant": variant}
    if stream.teacher_tokens:
        item["en_text"] = caption_text(raw, "en") if "txt" in raw else text
    item.update(decode_image(raw, stream, rng))
    return item


def parallel_item(raw: Mapping[str, Any], stream: StreamConfig, weights: Mapping[str, float] | None, rng: np.random.Generator) -> dict[str, Any]:
    """A translation pair, English first when one side is English. From parallel shards
    as stored; from caption shards, English and a sampled other language."""
    if "txt" in raw:  # a caption sample: pair English with one other caption language
        others = [lang for lang in caption_languages(raw) if lang != "en"]
        if stream.pair_languages is not None:
            others = [lang for lang in others if lang in stream.pair_languages]
        if not others:
            raise DecodeError("no caption in a pair language")
        src, tgt = "en", choose(others, weights, rng)
    else:
        src, tgt = json.loads(raw["json"])["languages"]
        if tgt == "en":
            src, tgt = tgt, src
        if stream.pair_languages is not None and tgt not in stream.pair_languages:
            raise DecodeError(f"pair language {tgt} not configured")
    item = {
        "key": raw["__key__"],
        "src_lang": src,
        "tgt_lang": tgt,
        "src_text": caption_text(raw, src) if "txt" in raw else raw[f"{src}.txt"].decode("utf-8"),
        "tgt_text": raw[f"{tgt}.txt"].decode("utf-8"),
    }
    return item


def text_item(raw: Mapping[str, Any], stream: StreamConfig, weights: Mapping[str, float] | None, rng: np.random.Generator) -> dict[str, Any]:
    meta = json.loads(raw["json"])
    return {"key": raw["__key__"], "text": raw["txt"].decode("utf-8"), "lang": meta["language"]}


ITEM_DECODERS = {"caption": caption_item, "parallel": parallel_item, "text": text_item}


def decode_item(raw: Mapping[str, Any], stream: StreamConfig, weights: Mapping[str, float] | None, rng: np.random.Generator) -> dict[str, Any]:
    """The stream kind's decoder, with every decoding failure turned into DecodeError."""
    try:
        return ITEM_DECODERS[stream.kind](raw, stream, weights, rng)
    except DecodeError:
        raise
    except (KeyError, ValueError, UnicodeDecodeError, TypeError, IndexError, AttributeError) as error:
        raise DecodeError(f"{type(error).__name__}: {error}") from None
