"""IGLUE's xFlickr&CO retrieval set (Bugliarello et al. 2022) from a clone of
https://github.com/e-bug/iglue: 2,000 images (1,000 Flickr30K test images, 1,000 COCO val2014
images) with one caption per image in eight languages::

    datasets/xFlickrCO/annotations/<lang>/test.jsonl   lang: de en es id ja ru tr zh
    {"sentences": ["The man with pierced ears ..."], "id": "1007129816", "img_path": "1007129816.jpg"}
    {"sentences": ["A man with a red helmet ..."], "id": 391895, "img_path": "COCO_val2014_000000391895.jpg"}

Each line's ``img_path`` names the image (its stem is the item's identity; ``id`` is a Flickr
id or a COCO id, which may collide) and ``sentences`` its captions. COCO images resolve to
``val2014/<img_path>`` under the COCO 2014 folder, Flickr images to ``<img_path>`` under
``flickr30k-images``: give both folders as images folders.
"""
from __future__ import annotations

import json

from babelshard.fs import join
from babelshard.pipelines.captions.benchmarks.files import (
    BenchmarkError,
    EvalItem,
    coco_image_path,
    field,
    image_stem,
    read_lines,
)

ORIGIN = "a clone of https://github.com/e-bug/iglue"
LANGUAGES = ("en", "de", "es", "id", "ja", "ru", "tr", "zh")


def annotation_file(lang: str) -> str:
    return f"datasets/xFlickrCO/annotations/{lang}/test.jsonl"


def read_language(root: str, lang: str) -> dict[str, tuple[str, ...]]:
    """img_path -> captions, in file order."""
    relative = annotation_file(lang)
    rows: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(read_lines(root, relative, ORIGIN), start=1):
        if not line.strip():
            continue
        where = f"{join(root, relative)}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise BenchmarkError(f"{where}: not JSON ({error.msg})") from None
        texts = field(row, "sentences", where)
        if not isinstance(texts, list):
            raise BenchmarkError(f"{where}: 'sentences' is not a list")
        name = str(field(row, "img_path", where))
        rows[name] = rows.get(name, ()) + tuple(str(text) for text in texts)
    return rows


def image_location(name: str, where: str) -> str:
    return coco_image_path(name, where) if name.startswith("COCO_") else name


def read_xflickrco(root: str, split: str) -> list[EvalItem]:
    """Images in the English file's order (then any image only other languages list)."""
    by_language = {lang: read_language(root, lang) for lang in LANGUAGES}
    order = list(dict.fromkeys(name for lang in LANGUAGES for name in by_language[lang]))
    where = join(root, annotation_file("en"))
    return [
        EvalItem(
            image_stem(name),
            image_location(name, where),
            {lang: rows[name] for lang, rows in by_language.items() if name in rows},
            split,
        )
        for name in order
    ]
