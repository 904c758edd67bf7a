"""Multi30K (Elliott et al. 2016; French 2017, Czech 2018) from a clone of
https://github.com/multi30k/dataset, the files under ``data/`` as that repository ships them.

Task 1 (translation): one caption per image in en, de, fr, cs, line-aligned with the image list::

    data/task1/image_splits/test_2016_flickr.txt      1007129816.jpg ...  (val.txt, train.txt)
    data/task1/raw/test_2016_flickr.{en,de,fr,cs}.gz  (val.<lang>.gz, train.<lang>.gz)

Task 2 (description): five English and five German descriptions written independently per
image; file ``n`` holds every image's n-th description::

    data/task2/image_splits/test_2016_images.txt      (val_images.txt, train_images.txt)
    data/task2/raw/test_2016.{1..5}.{en,de}.gz        (val.<n>.<lang>.gz, train.<n>.<lang>.gz)

The task-1 English caption is one of the five task-2 English descriptions (the one that was
translated), so the retrieval set the papers use (5 en + 5 de + 1 fr + 1 cs per image) takes
English and German from task 2 and French and Czech from task 1. Images are Flickr30K's
(``flickr30k-images/<id>.jpg``).
"""
from __future__ import annotations

from babelshard.fs import join
from babelshard.pipelines.captions.benchmarks.files import (
    BenchmarkError,
    EvalItem,
    image_stem,
    items_from_columns,
    read_aligned,
    read_lines,
)

ORIGIN = "a clone of https://github.com/multi30k/dataset"
TASK1_LANGUAGES = ("en", "de", "fr", "cs")
TASK2_LANGUAGES = ("en", "de")
DESCRIPTIONS = 5
SPLITS = ("test", "val", "train")
# split -> (task 1 file stem, task 2 file stem); "test" is test2016, the one test set with Czech
STEMS = {"test": ("test_2016_flickr", "test_2016"), "val": ("val", "val"), "train": ("train", "train")}


def image_list(relative: str, root: str) -> list[str]:
    names = [name.strip() for name in read_lines(root, relative, ORIGIN)]
    if not names or any(not name for name in names):
        raise BenchmarkError(f"{join(root, relative)}: expected one image file name per line")
    return names


def read_task1(root: str, split: str) -> list[EvalItem]:
    stem = STEMS[split][0]
    listing = f"data/task1/image_splits/{stem}.txt"
    images = image_list(listing, root)
    columns = {
        lang: [read_aligned(root, f"data/task1/raw/{stem}.{lang}.gz", ORIGIN, len(images), listing)]
        for lang in TASK1_LANGUAGES
    }
    return items_from_columns([image_stem(name) for name in images], images, columns, split)


def read_task2(root: str, split: str) -> list[EvalItem]:
    stem = STEMS[split][1]
    listing = f"data/task2/image_splits/{stem}_images.txt"
    images = image_list(listing, root)
    columns = {
        lang: [
            read_aligned(root, f"data/task2/raw/{stem}.{number}.{lang}.gz", ORIGIN, len(images), listing)
            for number in range(1, DESCRIPTIONS + 1)
        ]
        for lang in TASK2_LANGUAGES
    }
    return items_from_columns([image_stem(name) for name in images], images, columns, split)


def read_multi30k(root: str, split: str) -> list[EvalItem]:
    """Task 2's English and German descriptions with task 1's French and Czech, per image."""
    task1, task2 = read_task1(root, split), read_task2(root, split)
    if [item.image for item in task1] != [item.image for item in task2]:
        stem1, stem2 = STEMS[split]
        raise BenchmarkError(
            f"{join(root, f'data/task2/image_splits/{stem2}_images.txt')}: does not list the images of "
            f"{join(root, f'data/task1/image_splits/{stem1}.txt')} in the same order"
        )
    return [
        EvalItem(two.image_id, two.image, {**two.captions, "fr": one.captions["fr"], "cs": one.captions["cs"]}, split)
        for one, two in zip(task1, task2)
    ]
