"""Small real OpenMoji shards for the trainer's tests, benchmark and toy runs.

The emoji, their CLDR names in 14 languages and the PNG rendering come from the
caption pipeline's :mod:`babelshard.pipelines.demo.openmoji` (``babelshard demo`` builds
the same data through the Beam job and the download path); code-switched ``cs.json``
variants from :mod:`babelshard.codeswitch.transform` with the CLDR emoji lexicon.
Written with the shard writer directly, so tests need no pipeline run: caption shards
(with a tiny precomputed ``pix.npy`` image feature), text shards (one folder per
language) and parallel shards.
"""
from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np

from babelshard.records import Caption, CaptionSample, CodeSwitchVariant, ParallelPair, TextSample, stable_key
from babelshard.shards.writer import write_records

SOURCE = "openmoji"
SKIN_TONES = {f"{c:X}" for c in range(0x1F3FB, 0x1F400)}


def pick_emoji(count: int) -> list[Any]:
    """``count`` emoji without skin-tone variants, in an order shuffled by a hash of the
    hexcode (so a split into training and held-out emoji mixes all categories)."""
    from babelshard.pipelines.demo.openmoji import list_emoji

    chosen = [e for e in list_emoji() if not SKIN_TONES & set(e.hexcode.split("-"))]
    chosen.sort(key=lambda e: hashlib.sha1(e.hexcode.encode()).hexdigest())
    if len(chosen) < count:
        raise RuntimeError(f"only {len(chosen)} emoji available, asked for {count}")
    return chosen[:count]


def pixel_features(png: bytes, cells: int = 4) -> np.ndarray:
    """A tiny precomputed image feature (mean colour per cell), for the ``.npy`` path."""
    from babelshard.train.data.transforms import decode_rgb

    image = np.asarray(decode_rgb(png), dtype=np.float32) / 255.0
    h, w, _ = image.shape
    cropped = image[: h - h % cells, : w - w % cells]
    pooled = cropped.reshape(cells, h // cells, cells, w // cells, 3).mean(axis=(1, 3))
    return pooled.reshape(-1).astype(np.float32)


def cldr_lexicon() -> Any:
    from babelshard.codeswitch.lexicons.cldr import import_cldr
    from babelshard.codeswitch.lexicon import Lexicon

    return Lexicon.from_pairs(import_cldr())


def switched_variants(text: str, key: str, lexicon: Any, variants: int = 2) -> tuple[CodeSwitchVariant, ...]:
    from babelshard.codeswitch.transform import SwitchParams, code_switch_variants

    found = code_switch_variants(text, key, variants, lexicon, SwitchParams(word_ratio=0.5))
    return tuple(v.as_variant() for v in found)


def caption_records(emojis: list[Any], size: int, lexicon: Any = None) -> Iterator[CaptionSample]:
    from babelshard.pipelines.demo.openmoji import render_png

    for item in emojis:
        png = render_png(item.hexcode, size)
        url = f"openmoji:{item.hexcode}"
        key = stable_key(SOURCE, url)
        yield CaptionSample(
            key=key,
            source=SOURCE,
            url=url,
            captions={lang: Caption(text) for lang, text in item.names.items()},
            image=png,
            image_format="png",
            meta={"emoji": item.char},
            codeswitched=switched_variants(item.names["en"], key, lexicon) if lexicon is not None else (),
            features={"pix": pixel_features(png)},
        )


def write_caption_shards(folder: str, emojis: list[Any], size: int = 32, per_shard: int = 40, lexicon: Any = None):
    return write_records(folder, "caption", caption_records(emojis, size, lexicon), max_samples=per_shard)


def write_text_shards(folder: str, emojis: list[Any], language: str, per_shard: int = 50):
    records = (
        TextSample(stable_key(SOURCE, e.hexcode, language), e.names[language], language, SOURCE) for e in emojis
    )
    return write_records(folder, "text", records, max_samples=per_shard)


def write_parallel_shards(folder: str, emojis: list[Any], languages: tuple[str, ...], per_shard: int = 60):
    records = (
        ParallelPair(stable_key(SOURCE, e.hexcode, "en", lang), "en", lang, e.names["en"], e.names[lang], SOURCE)
        for e in emojis
        for lang in languages
    )
    return write_records(folder, "parallel", records, max_samples=per_shard)


def build_toy_data(root: str, train: int = 320, heldout: int = 80, size: int = 32, codeswitch: bool = True) -> dict[str, str]:
    """caption/ (train), heldout/, text/<lang>/ for en, de, ja of decreasing size with
    text/weights.json (alpha 0.3), and parallel/ (en paired with de, fr, ja); returns
    the folders by name."""
    emojis = pick_emoji(train + heldout)
    training, held = emojis[:train], emojis[train:]
    folders = {"caption": f"{root}/caption", "heldout": f"{root}/heldout", "parallel": f"{root}/parallel"}
    write_caption_shards(folders["caption"], training, size, lexicon=cldr_lexicon() if codeswitch else None)
    write_caption_shards(folders["heldout"], held, size)
    write_parallel_shards(folders["parallel"], training, ("de", "fr", "ja"))
    for lang, share in (("en", 1.0), ("de", 0.4), ("ja", 0.15)):
        folders[f"text/{lang}"] = f"{root}/text/{lang}"
        write_text_shards(folders[f"text/{lang}"], training[: max(10, int(train * share))], lang)
    write_text_weights(f"{root}/text", alpha=0.3)
    return folders


def write_text_weights(root: str, alpha: float) -> None:
    """``weights.json`` beside the per-language folders, as ``babelshard text-weights`` writes it."""
    from babelshard.shards.weights import find_indexes, write_weights

    write_weights(root, find_indexes(root), alpha)
