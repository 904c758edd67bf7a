"""XTD10 (Aggarwal & Kale 2020) from a clone of
https://github.com/adobe-research/Cross-lingual-Test-Dataset-XTD10: 1,000 MSCOCO 2014 train
images with one caption per image in 11 languages, line-aligned with the image list::

    XTD10/test_image_names.txt                  COCO_train2014_000000061844.jpg ...
    XTD10/test_1kcaptions_{en,es,it,ko,pl,ru,tr,zh}.txt
    MIC/test_1kcaptions_{de,fr}.txt             (German and French from MIC)
    STAIR/test_1kcaptions_jp.txt                (Japanese from STAIR Captions; ``jp`` is read as ``ja``)

Some files end lines with CRLF and have no final newline. Images are COCO's
(``train2014/COCO_train2014_….jpg`` under the COCO 2014 folder).
"""
from __future__ import annotations

from babelshard.fs import join
from babelshard.pipelines.captions.benchmarks.files import (
    BenchmarkError,
    EvalItem,
    coco_image_path,
    image_stem,
    items_from_columns,
    read_aligned,
    read_lines,
)

ORIGIN = "a clone of https://github.com/adobe-research/Cross-lingual-Test-Dataset-XTD10"
IMAGE_LIST = "XTD10/test_image_names.txt"
CAPTION_FILES = {
    **{lang: f"XTD10/test_1kcaptions_{lang}.txt" for lang in ("en", "es", "it", "ko", "pl", "ru", "tr", "zh")},
    "de": "MIC/test_1kcaptions_de.txt",
    "fr": "MIC/test_1kcaptions_fr.txt",
    "ja": "STAIR/test_1kcaptions_jp.txt",
}
LANGUAGES = tuple(sorted(CAPTION_FILES))


def read_xtd10(root: str, split: str) -> list[EvalItem]:
    names = [name.strip() for name in read_lines(root, IMAGE_LIST, ORIGIN)]
    where = join(root, IMAGE_LIST)
    if not names or any(not name for name in names):
        raise BenchmarkError(f"{where}: expected one image file name per line")
    images = [coco_image_path(name, where) for name in names]
    columns = {
        lang: [read_aligned(root, relative, ORIGIN, len(names), IMAGE_LIST)] for lang, relative in sorted(CAPTION_FILES.items())
    }
    return items_from_columns([image_stem(name) for name in names], images, columns, split)
