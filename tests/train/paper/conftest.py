"""Fixtures of the paper-shaped model tests: tiny random checkpoints saved with the
libraries' own classes (a 4-layer XLM-R to split 2 + 2, a CLIP, a ViTModel), caption
shards with region members computed from the real toy emoji, and a short optimisation
over real mixed batches of a preset's own objectives."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch

PAPER = Path(__file__).resolve().parents[3] / "configs" / "paper"
GRID = 4  # 4 x 4 cells of 8 px on the toy's 32 px images
PALETTE = np.array([[1, 1, 1], [0, 0, 0], [1, 0.8, 0.2], [0.9, 0.2, 0.2], [0.2, 0.5, 0.9], [0.3, 0.7, 0.3]], np.float32)


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def paper_checkpoints(tmp_path_factory, caption_words) -> dict[str, str]:
    """``xlmr`` (4 layers), ``clip`` and ``vit`` (a ViTModel with its processor config)."""
    from babelshard.train.models.tiny_checkpoints import save_tiny_clip, save_tiny_xlmr

    root = tmp_path_factory.mktemp("paper-checkpoints")
    words = [w.casefold() for w in caption_words] + caption_words
    return {
        "xlmr": save_tiny_xlmr(str(root / "xlmr"), words, layers=4, seed=3),
        "clip": save_tiny_clip(str(root / "clip"), seed=4),
        "vit": save_tiny_vit(str(root / "vit")),
    }


def save_tiny_vit(folder: str, width: int = 32, image_size: int = 32, patch_size: int = 8) -> str:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    torch.manual_seed(5)
    config = ViTConfig(hidden_size=width, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * width,
                       image_size=image_size, patch_size=patch_size)
    ViTModel(config, add_pooling_layer=False).save_pretrained(folder, safe_serialization=True)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(folder)
    return folder


def grid_regions(png: bytes, key: str) -> dict[str, np.ndarray]:
    """Grid features of a real emoji: per 8 px cell its 2 x 2-pooled pixels (12-d), box
    geometry (x1 y1 x2 y2 area) and a class distribution over 6 colours (softmax of the
    negative distance of the cell's mean colour); 8 to 16 cells an image, by key."""
    from babelshard.train.data.transforms import decode_rgb

    image = np.asarray(decode_rgb(png).resize((32, 32)), dtype=np.float32) / 255.0
    cells = image.reshape(GRID, 8, GRID, 8, 3).transpose(0, 2, 1, 3, 4).reshape(GRID * GRID, 8, 8, 3)
    features = cells.reshape(-1, 2, 4, 2, 4, 3).mean(axis=(2, 4)).reshape(GRID * GRID, -1)
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    boxes = np.stack([cols / GRID, rows / GRID, (cols + 1) / GRID, (rows + 1) / GRID, np.full(16, 1 / 16)], axis=1)
    distance = ((cells.mean(axis=(1, 2))[:, None, :] - PALETTE[None]) ** 2).sum(-1)
    logits = -distance / 0.05
    classes = np.exp(logits - logits.max(axis=1, keepdims=True))
    classes /= classes.sum(axis=1, keepdims=True)
    keep = 8 + int(hashlib.sha1(key.encode()).hexdigest(), 16) % 9
    return {"regions": features[:keep].astype(np.float32), "regions_box": boxes[:keep].astype(np.float32),
            "regions_cls": classes[:keep].astype(np.float32), "pooled": features.mean(axis=0).astype(np.float32)}


@pytest.fixture(scope="session")
def region_shards(toy, tmp_path_factory) -> str:
    """The toy caption records rewritten with region members, by the shard writer."""
    from babelshard.shards.reader import iter_records
    from babelshard.shards.writer import write_records

    folder = str(tmp_path_factory.mktemp("regions") / "caption")
    records = [dataclasses.replace(r, features={**r.features, **grid_regions(r.image, r.key)})
               for r in iter_records(toy["caption"])]
    write_records(folder, "caption", records, max_samples=100)
    return folder


@pytest.fixture(scope="session")
def digest() -> Callable[[str], dict[str, str]]:
    """``digest(folder)``: sha256 of every file under it (a checkpoint a run must not write to)."""
    return digest_folder


def digest_folder(folder: str) -> dict[str, str]:
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def optimise() -> Callable[..., list[float]]:
    """``optimise(config, steps, lr)``: the config's model and objectives (the trainer's
    TrainModule) trained with AdamW on its first 3 mixed batches, cycled; returns
    (model, losses per step)."""

    def run(config: Any, steps: int = 30, lr: float = 2e-3) -> tuple[torch.nn.Module, list[float]]:
        from babelshard.train.data.mixer import MixedStream
        from babelshard.train.data.tokenizer import build_tokenizer
        from babelshard.train.loop.trainer import TrainModule
        from babelshard.train.models.dual_encoder import VocabInfo
        from babelshard.train.registry import build_model, build_objective

        tokenizer = build_tokenizer(config.tokenizer)
        data = MixedStream(config.data.streams, tokenizer, seed=1, batches_per_epoch=3)
        batches = [b.streams for b in itertools.islice(iter(data), 3)]
        torch.manual_seed(0)
        module = TrainModule(build_model(config.model, VocabInfo.of(tokenizer)), [build_objective(o) for o in config.objectives])
        optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
        module.train()
        losses = []
        for step in range(steps):
            loss = module(batches[step % 3])["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        return module.model, losses

    return run
