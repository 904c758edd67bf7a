"""COCO-CN (Li et al. 2019), version 201805, from ``coco-cn-version1805v1.1.tar.gz`` (given on
request, see https://github.com/li-xirong/coco-cn), extracted::

    coco-cn-version1805v1.1/coco-cn_{train,val,test}.txt       one image id per line: COCO_val2014_000000290951
    coco-cn-version1805v1.1/imageid.human-written-caption.txt  COCO_val2014_000000290951#0<TAB>caption
    coco-cn-version1805v1.1/imageid.manually-translated-caption.txt  (same format; test images)

``root`` is the extracted ``coco-cn-version1805v1.1`` folder. A caption line's number after
``#`` orders an image's captions; a line with a space instead of the tab is read too.
Images are COCO 2014's (``val2014/…`` or ``train2014/…`` under the COCO 2014 folder).
"""
from __future__ import annotations

from collections import defaultdict

from babelshard.fs import join
from babelshard.pipelines.captions.benchmarks.files import BenchmarkError, EvalItem, coco_image_path, read_lines

ORIGIN = "coco-cn-version1805v1.1.tar.gz, https://github.com/li-xirong/coco-cn"
SPLITS = ("test", "val", "train")
HUMAN_WRITTEN = "imageid.human-written-caption.txt"
MANUALLY_TRANSLATED = "imageid.manually-translated-caption.txt"


def parse_caption_line(line: str, where: str) -> tuple[str, int, str]:
    """``COCO_val2014_000000290951#0\\tcaption`` -> (image id, number, caption)."""
    name, separator, text = line.partition("\t")
    if not separator:
        name, separator, text = line.partition(" ")
    image_id, hash_mark, number = name.strip().partition("#")
    if not separator or not hash_mark or not number.isdigit():
        raise BenchmarkError(f"{where}: expected '<image id>#<n><TAB><caption>'")
    return image_id, int(number), text.strip()


def read_coco_cn(root: str, split: str, caption_file: str = HUMAN_WRITTEN) -> list[EvalItem]:
    listing = f"coco-cn_{split}.txt"
    image_ids = [line.strip() for line in read_lines(root, listing, ORIGIN) if line.strip()]
    if not image_ids:
        raise BenchmarkError(f"{join(root, listing)}: lists no images")
    wanted = set(image_ids)
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for number, line in enumerate(read_lines(root, caption_file, ORIGIN), start=1):
        if not line.strip():
            continue
        image_id, order, text = parse_caption_line(line, f"{join(root, caption_file)}:{number}")
        if image_id in wanted:
            grouped[image_id].append((order, text))
    missing = [image_id for image_id in image_ids if image_id not in grouped]
    if missing:
        raise BenchmarkError(
            f"{join(root, caption_file)}: no caption for {len(missing)} of the {len(image_ids)} images "
            f"in {listing} (first: {missing[0]})"
        )
    where = join(root, listing)
    return [
        EvalItem(image_id, coco_image_path(image_id, where), {"zh": tuple(text for _, text in sorted(grouped[image_id]))}, split)
        for image_id in image_ids
    ]
