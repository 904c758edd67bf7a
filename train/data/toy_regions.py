"""Region members for the toy OpenMoji shards, for tests and benchmarks of region-feature
models (M3P) where no detector has run: grid features computed from each real emoji.

Each 8 px cell of the 32 px image is a region: its 2 × 2-pooled pixels (12-d,
``regions.npy``), its box (normalised x1 y1 x2 y2 and area, ``regions_box.npy``) and a
class distribution over 6 colours (softmax of the negative distance of the cell's mean
colour, ``regions_cls.npy``), plus the mean of the cells (``pooled.npy``, an image-level
feature). An image keeps 8 to 16 of its cells, by key, so batches need padding.
"""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

GRID = 4
PALETTE = np.array([[1, 1, 1], [0, 0, 0], [1, 0.8, 0.2], [0.9, 0.2, 0.2], [0.2, 0.5, 0.9], [0.3, 0.7, 0.3]], np.float32)


def grid_regions(image_bytes: bytes, key: str) -> dict[str, np.ndarray]:
    """The region members of one image (see the module doc)."""
    from babelshard.train.data.transforms import decode_rgb

    image = np.asarray(decode_rgb(image_bytes).resize((8 * GRID, 8 * GRID)), dtype=np.float32) / 255.0
    cells = image.reshape(GRID, 8, GRID, 8, 3).transpose(0, 2, 1, 3, 4).reshape(GRID * GRID, 8, 8, 3)
    features = cells.reshape(-1, 2, 4, 2, 4, 3).mean(axis=(2, 4)).reshape(GRID * GRID, -1)
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    area = np.full(GRID * GRID, 1 / GRID**2)
    boxes = np.stack([cols / GRID, rows / GRID, (cols + 1) / GRID, (rows + 1) / GRID, area], axis=1)
    distance = ((cells.mean(axis=(1, 2))[:, None, :] - PALETTE[None]) ** 2).sum(-1)
    logits = -distance / 0.05
    classes = np.exp(logits - logits.max(axis=1, keepdims=True))
    classes /= classes.sum(axis=1, keepdims=True)
    keep = 8 + int(hashlib.sha1(key.encode()).hexdigest(), 16) % 9
    return {"regions": features[:keep].astype(np.float32), "regions_box": boxes[:keep].astype(np.float32),
            "regions_cls": classes[:keep].astype(np.float32), "pooled": features.mean(axis=0).astype(np.float32)}


def write_region_shards(captions: str, folder: str, max_samples: int = 100) -> str:
    """The caption shards of ``captions`` rewritten into ``folder`` with region members."""
    from babelshard.shards.reader import iter_records
    from babelshard.shards.writer import write_records

    records = [dataclasses.replace(r, features={**r.features, **grid_regions(r.image, r.key)})
               for r in iter_records(captions)]
    write_records(folder, "caption", records, max_samples=max_samples)
    return folder
