"""The benchmarks by name: their reader, splits, languages and where their files and images
come from, and :func:`read_benchmark`, which reads one split (and one 1K fold)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable

from babelshard.pipelines.captions.benchmarks import cococn, iglue, karpathy, multi30k, xtd10
from babelshard.pipelines.captions.benchmarks.files import BenchmarkError, EvalItem

FOLD_SIZE = 1000
COCO_IMAGES = "the COCO 2014 folder (val2014/, train2014/)"
FLICKR_IMAGES = "flickr30k-images/"


@dataclass(frozen=True)
class Benchmark:
    """``read(root, split)`` gives the split's items; ``files`` says what ``root`` holds."""

    name: str
    read: Callable[[str, str], list[EvalItem]]
    splits: tuple[str, ...]
    languages: tuple[str, ...]
    files: str
    images: str
    folds: bool = False


BENCHMARKS = {
    benchmark.name: benchmark
    for benchmark in (
        Benchmark("multi30k", multi30k.read_multi30k, multi30k.SPLITS, ("en", "de", "fr", "cs"),
                  "multi30k/dataset clone: data/task1 (fr, cs) and data/task2 (5 en, 5 de)", FLICKR_IMAGES),
        Benchmark("multi30k-task1", multi30k.read_task1, multi30k.SPLITS, multi30k.TASK1_LANGUAGES,
                  "multi30k/dataset clone: data/task1/raw/test_2016_flickr.{en,de,fr,cs}.gz", FLICKR_IMAGES),
        Benchmark("multi30k-task2", multi30k.read_task2, multi30k.SPLITS, multi30k.TASK2_LANGUAGES,
                  "multi30k/dataset clone: data/task2/raw/test_2016.{1..5}.{en,de}.gz", FLICKR_IMAGES),
        Benchmark("coco", karpathy.read_coco, karpathy.COCO_SPLITS, ("en",),
                  "dataset_coco.json (Karpathy's caption_datasets.zip)", COCO_IMAGES, folds=True),
        Benchmark("flickr30k", karpathy.read_flickr30k, karpathy.FLICKR_SPLITS, ("en",),
                  "dataset_flickr30k.json (Karpathy's caption_datasets.zip)", FLICKR_IMAGES),
        Benchmark("stair", karpathy.read_stair, karpathy.COCO_SPLITS, ("ja",),
                  "dataset_coco.json and stair_captions_v1.2_val.json (STAIR Captions v1.2) in one folder",
                  COCO_IMAGES, folds=True),
        Benchmark("xtd10", xtd10.read_xtd10, ("test",), xtd10.LANGUAGES,
                  "Cross-lingual-Test-Dataset-XTD10 clone: XTD10/, MIC/, STAIR/", COCO_IMAGES),
        Benchmark("coco-cn", cococn.read_coco_cn, cococn.SPLITS, ("zh",),
                  "coco-cn-version1805v1.1/: coco-cn_<split>.txt, imageid.human-written-caption.txt", COCO_IMAGES),
        Benchmark("coco-cn-translated", functools.partial(cococn.read_coco_cn, caption_file=cococn.MANUALLY_TRANSLATED),
                  ("test",), ("zh",),
                  "coco-cn-version1805v1.1/: coco-cn_test.txt, imageid.manually-translated-caption.txt", COCO_IMAGES),
        Benchmark("xflickrco", iglue.read_xflickrco, ("test",), iglue.LANGUAGES,
                  "e-bug/iglue clone: datasets/xFlickrCO/annotations/<lang>/test.jsonl",
                  f"{FLICKR_IMAGES} and {COCO_IMAGES}"),
    )
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise BenchmarkError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def assign_folds(items: list[EvalItem], fold_size: int) -> list[EvalItem]:
    """Fold ``i // fold_size`` for every image of a whole fold, in file order; a partial
    last block belongs to no fold."""
    whole = len(items) // fold_size * fold_size
    return [replace(item, fold=index // fold_size if index < whole else None) for index, item in enumerate(items)]


def read_benchmark(
    name: str, root: str, *, split: str = "test", fold: int | None = None, fold_size: int = FOLD_SIZE
) -> list[EvalItem]:
    """The items of one split (one fold of ``fold_size`` consecutive images with ``fold``)."""
    benchmark = get_benchmark(name)
    if split not in benchmark.splits:
        raise BenchmarkError(f"benchmark {name} has no split {split!r}; it has: {', '.join(benchmark.splits)}")
    if fold_size < 1:
        raise BenchmarkError(f"fold size must be positive, got {fold_size}")
    if fold is not None and not benchmark.folds:
        with_folds = ", ".join(b.name for b in BENCHMARKS.values() if b.folds)
        raise BenchmarkError(f"benchmark {name} is not evaluated in folds; folds are for: {with_folds}")
    items = benchmark.read(root, split)
    if not benchmark.folds:
        return items
    items = assign_folds(items, fold_size)
    if fold is None:
        return items
    count = len(items) // fold_size
    if not 0 <= fold < count:
        where = f"benchmark {name}: no fold {fold}; the {split} split"
        if count == 0:
            raise BenchmarkError(f"{where} has {len(items)} images, fewer than one fold of {fold_size}")
        raise BenchmarkError(f"{where}'s {len(items)} images make {count} folds of {fold_size} (0-{count - 1})")
    return [item for item in items if item.fold == fold]
