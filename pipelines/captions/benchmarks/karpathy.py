"""MSCOCO and Flickr30K on Karpathy & Fei-Fei's splits, and STAIR Captions' Japanese on
the same COCO images.

Karpathy's ``caption_datasets.zip`` (https://cs.stanford.edu/people/karpathy/deepimagesent/)
holds ``dataset_coco.json`` and ``dataset_flickr30k.json``: ``images[]`` with ``split``
(``train``, ``restval``, ``val``, ``test``), ``filename`` (COCO also ``filepath``:
``val2014``/``train2014``, and ``cocoid``) and ``sentences[].raw``. The COCO test split is
5,000 val2014 images (the 5K test; the 1K test is five folds of 1,000 consecutive images in
file order); Flickr30K's is 1,000 images.

STAIR Captions v1.2 (``stair_captions_v1.2.tar.gz`` from
https://github.com/STAIR-Lab-CIT/STAIR-captions) are COCO-format JSON files,
``stair_captions_v1.2_val.json`` and ``stair_captions_v1.2_train.json``, whose
``annotations[]`` carry ``image_id`` (the COCO id) and a Japanese ``caption``. The STAIR
benchmark takes the Karpathy split's images from ``dataset_coco.json`` (``cocoid``) and
their STAIR captions, so Japanese is evaluated on the same 5K/1K test images as English;
only the file that covers the images' COCO folder is read (val2014 for the test split).
"""
from __future__ import annotations

import posixpath
from collections import defaultdict
from typing import Any

from babelshard.fs import join
from babelshard.pipelines.captions.benchmarks.files import BenchmarkError, EvalItem, field, image_stem, read_json

KARPATHY_ORIGIN = "Karpathy's caption_datasets.zip, https://cs.stanford.edu/people/karpathy/deepimagesent/"
STAIR_ORIGIN = "stair_captions_v1.2.tar.gz, https://github.com/STAIR-Lab-CIT/STAIR-captions"
COCO_FILE = "dataset_coco.json"
FLICKR_FILE = "dataset_flickr30k.json"
COCO_SPLITS = ("test", "val", "restval", "train")
FLICKR_SPLITS = ("test", "val", "train")
STAIR_FILES = {"val2014": "stair_captions_v1.2_val.json", "train2014": "stair_captions_v1.2_train.json"}


def karpathy_images(root: str, relative: str, split: str) -> list[tuple[str, dict]]:
    """``(where, image)`` for the images of ``split``, in file order."""
    data = read_json(root, relative, KARPATHY_ORIGIN)
    path = join(root, relative)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise BenchmarkError(f"{path}: no 'images' list; expected Karpathy's {relative}")
    selected = []
    for number, image in enumerate(images):
        where = f"{path}: images[{number}]"
        if field(image, "split", where) == split:
            selected.append((where, image))
    return selected


def sentences(image: dict, where: str) -> tuple[str, ...]:
    return tuple(str(field(sentence, "raw", f"{where}.sentences")) for sentence in field(image, "sentences", where))


def read_coco(root: str, split: str) -> list[EvalItem]:
    items = []
    for where, image in karpathy_images(root, COCO_FILE, split):
        location = posixpath.join(field(image, "filepath", where), field(image, "filename", where))
        items.append(EvalItem(str(field(image, "cocoid", where)), location, {"en": sentences(image, where)}, split))
    return items


def read_flickr30k(root: str, split: str) -> list[EvalItem]:
    items = []
    for where, image in karpathy_images(root, FLICKR_FILE, split):
        name = field(image, "filename", where)
        items.append(EvalItem(image_stem(name), name, {"en": sentences(image, where)}, split))
    return items


def stair_captions(root: str, relative: str) -> dict[int, tuple[str, ...]]:
    """COCO image id -> Japanese captions in annotation-id order."""
    data = read_json(root, relative, STAIR_ORIGIN)
    path = join(root, relative)
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, list):
        raise BenchmarkError(f"{path}: no 'annotations' list; expected STAIR Captions' COCO-format JSON")
    grouped: dict[int, list[tuple[Any, str]]] = defaultdict(list)
    for number, annotation in enumerate(annotations):
        where = f"{path}: annotations[{number}]"
        image_id = field(annotation, "image_id", where)
        grouped[int(image_id)].append((annotation.get("id", number), str(field(annotation, "caption", where))))
    return {image_id: tuple(text for _, text in sorted(texts)) for image_id, texts in grouped.items()}


def read_stair(root: str, split: str) -> list[EvalItem]:
    """The Karpathy split's COCO images with their STAIR Captions (ja)."""
    english = read_coco(root, split)
    folders = sorted({item.image.split("/", 1)[0] for item in english})
    captions: dict[int, tuple[str, ...]] = {}
    for folder in folders:
        if folder not in STAIR_FILES:
            raise BenchmarkError(f"{join(root, COCO_FILE)}: images in {folder!r}, which STAIR Captions does not cover")
        captions.update(stair_captions(root, STAIR_FILES[folder]))
    missing = [item for item in english if int(item.image_id) not in captions]
    if missing:
        files = ", ".join(join(root, STAIR_FILES[folder]) for folder in folders)
        raise BenchmarkError(
            f"{files}: no caption for {len(missing)} of the {len(english)} {split} images (first: cocoid {missing[0].image_id})"
        )
    return [EvalItem(item.image_id, item.image, {"ja": captions[int(item.image_id)]}, split) for item in english]
