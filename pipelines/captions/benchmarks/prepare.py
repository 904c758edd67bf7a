"""An evaluation set as a caption shard folder that ``babelshard eval`` reads.

Each image becomes one :class:`CaptionSample` with the image's own bytes (not resized)
and every caption: a language's first caption in ``captions``, the others in
``extra_captions``. Keys are ``stable_key(benchmark, image id)``; samples keep the
release's image order (a single shard up to 10,000 images or 1 GiB, then the next).
``index.json`` carries the benchmark, split, fold and caption counts per language under
``extra.benchmark``.
"""
from __future__ import annotations

import io
from collections import Counter
from typing import Any, Sequence

from PIL import Image, UnidentifiedImageError

from babelshard.fs import exists, join, read_bytes
from babelshard.pipelines.captions.benchmarks.files import BenchmarkError, EvalItem
from babelshard.pipelines.captions.benchmarks.registry import FOLD_SIZE, get_benchmark, read_benchmark
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.shards.index import INDEX_NAME, ShardIndex
from babelshard.shards.writer import ShardWriter
from babelshard.stats import Drop

STAGE = "benchmark"
MISSING_IMAGE = "missing_image"
BAD_IMAGE = "bad_image"
PIL_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


class ImageError(BenchmarkError):
    """An image of the set that is not in any images folder, or not a JPEG/PNG/WebP."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def load_image(relative: str, folders: Sequence[str]) -> tuple[bytes, str]:
    """The image's bytes from the first folder that has it, and its format (jpg/png/webp)."""
    for folder in folders:
        path = join(folder, relative)
        try:
            data = read_bytes(path)
        except (FileNotFoundError, IsADirectoryError):
            continue
        try:
            image_format = Image.open(io.BytesIO(data)).format
        except (UnidentifiedImageError, OSError):
            raise ImageError(f"{path}: not an image", BAD_IMAGE) from None
        if image_format not in PIL_FORMATS:
            raise ImageError(f"{path}: a {image_format} image; shards hold JPEG, PNG or WebP", BAD_IMAGE)
        return data, PIL_FORMATS[image_format]
    raise ImageError(f"{relative}: not found in the images folder(s) {', '.join(folders)}", MISSING_IMAGE)


def kept_captions(item: EvalItem, max_captions: int | None) -> tuple[dict[str, tuple[str, ...]], Counter]:
    """Stripped non-empty captions per language (the first ``max_captions``), and how many
    empty captions each language had."""
    kept, empty = {}, Counter()
    for lang, texts in sorted(item.captions.items()):
        stripped = [text.strip() for text in texts]
        empty[lang] += sum(1 for text in stripped if not text)
        chosen = tuple(text for text in stripped if text)[:max_captions]
        if chosen:
            kept[lang] = chosen
    return kept, empty


def eval_record(
    name: str, item: EvalItem, captions: dict[str, tuple[str, ...]], image: bytes, image_format: str
) -> CaptionSample:
    meta: dict[str, Any] = {"benchmark": name, "split": item.split, "image_id": item.image_id}
    if item.fold is not None:
        meta["fold"] = item.fold
    return CaptionSample(
        key=stable_key(name, item.image_id),
        source=name,
        url=item.image,
        captions={lang: Caption(texts[0]) for lang, texts in captions.items()},
        image=image,
        image_format=image_format,
        meta=meta,
        extra_captions={lang: texts[1:] for lang, texts in captions.items() if len(texts) > 1},
    )


def prepare_benchmark(
    name: str,
    root: str,
    output: str,
    *,
    images: Sequence[str] = (),
    split: str = "test",
    fold: int | None = None,
    fold_size: int = FOLD_SIZE,
    max_captions: int | None = None,
    skip_bad_images: bool = False,
) -> ShardIndex:
    """Read a benchmark split from ``root`` and write it to the shard folder ``output``.

    Images are looked up under each of ``images`` in turn (default: ``root``). A missing or
    unreadable image is a one-line error, or with ``skip_bad_images`` a counted drop
    (``missing_image`` / ``bad_image`` in ``stats.json``).
    """
    if max_captions is not None and max_captions < 1:
        raise BenchmarkError(f"--max-captions must be at least 1, got {max_captions}")
    if exists(join(output, INDEX_NAME)):
        raise BenchmarkError(f"{output}: already a finished shard folder ({INDEX_NAME}); give a new --output")
    items = read_benchmark(name, root, split=split, fold=fold, fold_size=fold_size)
    folders = list(images) or [root]
    captions, empty, written = Counter(), Counter(), 0
    writer = ShardWriter(output, stream="caption")
    try:
        for item in items:
            try:
                image, image_format = load_image(item.image, folders)
            except ImageError as error:
                if not skip_bad_images:
                    raise
                writer.write_drop(Drop(stable_key(name, item.image_id), STAGE, error.reason, str(error), item.image))
                continue
            kept, item_empty = kept_captions(item, max_captions)
            writer.write_record(eval_record(name, item, kept, image, image_format))
            empty.update(item_empty)
            written += 1
            captions.update({lang: len(texts) for lang, texts in kept.items()})
    except BaseException:
        writer.abort()
        raise
    summary = {
        "name": name,
        "split": split,
        "images": written,
        "captions": dict(sorted(captions.items())),
        "empty_captions": {lang: n for lang, n in sorted(empty.items()) if n},
        "max_captions": max_captions,
    }
    if get_benchmark(name).folds:
        summary.update(fold=fold, fold_size=fold_size)
    return writer.close(extra={"benchmark": summary})
