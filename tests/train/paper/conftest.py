"""Fixtures of the paper-shaped model tests: tiny random checkpoints saved with the
libraries' own classes (a 4-layer XLM-R to split 2 + 2, a CLIP, a ViTModel), caption
shards with region members computed from the real toy emoji, and a short optimisation
over real mixed batches of a preset's own objectives."""
from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

PAPER = Path(__file__).resolve().parents[3] / "configs" / "paper"


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


@pytest.fixture(scope="session")
def region_shards(toy, tmp_path_factory) -> str:
    """The toy caption records rewritten with region members (grid features of the real
    emoji: :mod:`babelshard.train.data.toy_regions`), by the shard writer."""
    from babelshard.train.data.toy_regions import write_region_shards

    return write_region_shards(toy["caption"], str(tmp_path_factory.mktemp("regions") / "caption"))


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
