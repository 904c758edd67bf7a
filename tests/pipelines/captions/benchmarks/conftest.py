"""Tiny copies of each benchmark release in its real layout (file names, formats, gzip,
CRLF endings, JSON fields as released), and tiny real JPEG images where the images live."""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from PIL import Image


def jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (24, 16), ((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_gz(path: Path, lines: list[str]) -> None:
    write(path, gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))


def write_images(folder: Path, relatives: list[str]) -> None:
    for seed, relative in enumerate(relatives):
        write(folder / relative, jpeg(seed))


MULTI30K_TEST = ["1007129816.jpg", "1009434119.jpg", "101362133.jpg"]
MULTI30K_VAL = ["1018148011.jpg", "1029450589.jpg"]


@pytest.fixture
def multi30k(tmp_path):
    """A multi30k/dataset clone's data/ folder (test2016 and val) and a flickr30k-images folder.

    Task 1 caption of image i in language L: ``t1 L i``; task 2 description n: ``t2 L i n``."""
    root = tmp_path / "multi30k-dataset"
    for split, (stem1, stem2), images in (("test", ("test_2016_flickr", "test_2016"), MULTI30K_TEST),
                                          ("val", ("val", "val"), MULTI30K_VAL)):
        write(root / f"data/task1/image_splits/{stem1}.txt", "\n".join(images) + "\n")
        write(root / f"data/task2/image_splits/{stem2}_images.txt", "\n".join(images) + "\n")
        for lang in ("en", "de", "fr", "cs"):
            write_gz(root / f"data/task1/raw/{stem1}.{lang}.gz", [f"{split} t1 {lang} {i}" for i in range(len(images))])
        for lang in ("en", "de"):
            for n in range(1, 6):
                write_gz(root / f"data/task2/raw/{stem2}.{n}.{lang}.gz", [f"{split} t2 {lang} {i} {n}" for i in range(len(images))])
    images = tmp_path / "flickr30k-images"
    write_images(images, MULTI30K_TEST + MULTI30K_VAL)
    return root, images


def karpathy_image(number: int, split: str, sentences: int, *, coco: bool) -> dict:
    entry = {
        "imgid": number,
        "split": split,
        "sentids": list(range(number * 10, number * 10 + sentences)),
        "sentences": [
            {"tokens": ["caption", str(n)], "raw": f"image {number} caption {n} ", "imgid": number, "sentid": number * 10 + n}
            for n in range(sentences)
        ],
    }
    if coco:
        folder = "val2014" if split != "train" else "train2014"
        entry.update(filepath=folder, filename=f"COCO_{folder}_{100 + number:012d}.jpg", cocoid=100 + number)
    else:
        entry.update(filename=f"{5000 + number}.jpg")
    return entry


def coco_test_sizes() -> list[int]:
    """Ten test images (five folds of two); image 3 has six captions, as some COCO images do."""
    return [6 if number == 3 else 5 for number in range(10)]


@pytest.fixture
def karpathy(tmp_path):
    """dataset_coco.json (10 test images between val/restval/train ones) and
    dataset_flickr30k.json (3 test, 1 val, 1 train), with a COCO 2014 folder and flickr30k-images."""
    root = tmp_path / "caption_datasets"
    splits = ["train", "val", *["test"] * 5, "restval", *["test"] * 5]
    sizes = iter(coco_test_sizes())
    coco = [karpathy_image(n, split, next(sizes) if split == "test" else 5, coco=True) for n, split in enumerate(splits)]
    write(root / "dataset_coco.json", json.dumps({"images": coco, "dataset": "coco"}))
    flickr = [karpathy_image(n, split, 5, coco=False) for n, split in enumerate(["test", "val", "test", "train", "test"])]
    write(root / "dataset_flickr30k.json", json.dumps({"images": flickr, "dataset": "flickr30k"}))
    coco_images = tmp_path / "coco2014"
    write_images(coco_images, [f"{entry['filepath']}/{entry['filename']}" for entry in coco])
    flickr_images = tmp_path / "flickr30k-images"
    write_images(flickr_images, [entry["filename"] for entry in flickr])
    return root, coco, coco_images, flickr, flickr_images


@pytest.fixture
def stair(karpathy):
    """stair_captions_v1.2_val.json beside dataset_coco.json: every val2014 image gets
    ``ja <cocoid> <n>`` captions, written out of annotation-id order."""
    root, coco, coco_images, _, _ = karpathy
    images, annotations = [], []
    for entry in coco:
        if entry["filepath"] != "val2014":
            continue
        images.append({"id": entry["cocoid"], "file_name": entry["filename"], "height": 16, "width": 24})
        count = 4 if entry["cocoid"] == 105 else 5
        for n in reversed(range(count)):
            annotations.append({"id": entry["cocoid"] * 100 + n, "image_id": entry["cocoid"],
                                "caption": f"ja {entry['cocoid']} {n}", "tokenized_caption": f"ja {entry['cocoid']} {n}"})
    write(root / "stair_captions_v1.2_val.json", json.dumps({"images": images, "annotations": annotations}, ensure_ascii=False))
    return root, coco, coco_images


XTD10_IMAGES = ["COCO_train2014_000000061844.jpg", "COCO_train2014_000000061849.jpg", "COCO_val2014_000000129945.jpg"]
XTD10_LANGUAGES = {"en": "XTD10", "es": "XTD10", "it": "XTD10", "ko": "XTD10", "pl": "XTD10", "ru": "XTD10",
                   "tr": "XTD10", "zh": "XTD10", "de": "MIC", "fr": "MIC", "jp": "STAIR"}


@pytest.fixture
def xtd10(tmp_path):
    """An XTD10 clone: the XTD10/ languages with CRLF and no final newline (as released), MIC/ and STAIR/ with LF."""
    root = tmp_path / "Cross-lingual-Test-Dataset-XTD10"
    write(root / "XTD10/test_image_names.txt", "\n".join(XTD10_IMAGES) + "\n")
    for lang, folder in XTD10_LANGUAGES.items():
        lines = [f"xtd {lang} {i}" for i in range(len(XTD10_IMAGES))]
        text = "\r\n".join(lines) if folder == "XTD10" and lang != "en" else "\n".join(lines) + "\n"
        write(root / f"{folder}/test_1kcaptions_{lang}.txt", text)
    coco_images = tmp_path / "coco2014"
    write_images(coco_images, [f"{name.split('_')[1]}/{name}" for name in XTD10_IMAGES])
    return root, coco_images


COCO_CN_SPLITS = {
    "train": ["COCO_train2014_000000000009"],
    "val": ["COCO_val2014_000000000042"],
    "test": ["COCO_val2014_000000290951", "COCO_train2014_000000128475", "COCO_val2014_000000217153"],
}


@pytest.fixture
def coco_cn(tmp_path):
    """coco-cn-version1805v1.1/ with split lists and both caption files; the test image
    COCO_val2014_000000217153 has two human-written captions, listed #1 before #0."""
    root = tmp_path / "coco-cn-version1805v1.1"
    for split, ids in COCO_CN_SPLITS.items():
        write(root / f"coco-cn_{split}.txt", "\n".join(ids) + "\n")
    written = [f"{image_id}#0\t人写 {image_id}" for ids in COCO_CN_SPLITS.values() for image_id in ids]
    written.insert(2, "COCO_val2014_000000217153#1\t第二句")
    write(root / "imageid.human-written-caption.txt", "\n".join(written) + "\n")
    translated = [f"{image_id}#{n}\t译 {image_id} {n}" for image_id in COCO_CN_SPLITS["test"] for n in range(5)]
    write(root / "imageid.manually-translated-caption.txt", "\n".join(translated) + "\n")
    coco_images = tmp_path / "coco2014"
    ids = [image_id for ids in COCO_CN_SPLITS.values() for image_id in ids]
    write_images(coco_images, [f"{image_id.split('_')[1]}/{image_id}.jpg" for image_id in ids])
    return root, coco_images


XFLICKRCO_ROWS = [("1007129816", "1007129816.jpg"), ("1009434119", "1009434119.jpg"),
                  (391895, "COCO_val2014_000000391895.jpg"), (60623, "COCO_val2014_000000060623.jpg")]


@pytest.fixture
def xflickrco(tmp_path):
    """An e-bug/iglue clone's datasets/xFlickrCO/annotations/<lang>/test.jsonl (2 Flickr, 2 COCO
    images, COCO ids as numbers as released), a flickr30k-images folder and a COCO 2014 folder."""
    root = tmp_path / "iglue"
    for lang in ("de", "en", "es", "id", "ja", "ru", "tr", "zh"):
        lines = [json.dumps({"sentences": [f"{lang} {image_id}"], "id": image_id, "img_path": path}, ensure_ascii=False)
                 for image_id, path in XFLICKRCO_ROWS]
        write(root / f"datasets/xFlickrCO/annotations/{lang}/test.jsonl", "\n".join(lines) + "\n")
    flickr_images, coco_images = tmp_path / "flickr30k-images", tmp_path / "coco2014"
    write_images(flickr_images, [path for _, path in XFLICKRCO_ROWS[:2]])
    write_images(coco_images, [f"val2014/{path}" for _, path in XFLICKRCO_ROWS[2:]])
    return root, flickr_images, coco_images
