"""Step time of ``configs/paper/`` presets on tiny checkpoints, the measurement that
``bench_backbones.py`` and ``bench_fusion_backbones.py`` share: each script gives its
presets, the tiny world it builds (shards, checkpoints) and the overrides that point a
preset at that world.

Scripts import it by name: ``python benchmarks/bench_*.py`` puts this folder on ``sys.path``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from babelshard.shards.reader import iter_records
from babelshard.textnorm import tokenize_words
from babelshard.train.config import load_train_config
from babelshard.train.loop.distributed import DistEnv
from babelshard.train.loop.metrics import StepClock
from babelshard.train.loop.steps import train_step
from babelshard.train.loop.trainer import build_trainer

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper"

TinyWorld = Callable[[str, int], dict[str, str]]  # (root folder, width) -> paths by name
Overrides = Callable[[str, dict[str, str], str, int], list[str]]  # (preset, world, output, batch) -> overrides


def caption_words(folder: str) -> list[str]:
    """Every word of a caption folder's captions, for the tiny checkpoints' vocabularies."""
    return sorted({w for r in iter_records(folder) for c in r.captions.values() for w in tokenize_words(c.text)})


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_preset(name: str, overrides: list[str], args: argparse.Namespace) -> dict:
    """``args.batches`` mixed batches decoded first, then ``args.warmup`` and ``args.steps``
    optimizer steps on them: the median step's wall and CPU milliseconds."""
    config = load_train_config(PAPER / f"train-{name}.yaml", overrides)
    trainer = build_trainer(config, DistEnv(device="cpu"))
    source = iter(trainer.dataset)
    batches = [next(source) for _ in range(args.batches)]
    cycle, clock = itertools.cycle(batches), StepClock()
    for _ in range(args.warmup):
        train_step(trainer, cycle, clock)
    runs = [timed(lambda: train_step(trainer, cycle, clock)) for _ in range(args.steps)]
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {"preset": f"configs/paper/train-{name}.yaml", "model": config.model.kind,
            "objectives": [o.kind for o in config.objectives], "batch": args.batch,
            "rows_per_step": {n: len(b.keys) for n, b in batches[0].streams.items()},
            "step_ms": round(1000 * statistics.median(w for w, _ in runs), 1),
            "cpu_ms": round(1000 * statistics.median(c for _, c in runs), 1),
            "trainable_params": trainable, "params": sum(p.numel() for p in trainer.model.parameters())}


def parse_args(description: str, presets: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--presets", nargs="*", default=list(presets))
    parser.add_argument("--output", default=None)
    return parser.parse_args()


def main(doc: str, presets: Sequence[str], tiny_world: TinyWorld, overrides: Overrides) -> None:
    """Parse the command line, build the tiny world in a temporary folder, time each
    preset and print the results as JSON."""
    args = parse_args(doc.split("\n\n")[0], presets)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        args.output = args.output or os.path.join(root, "runs")
        world = tiny_world(root, args.width)
        results = [bench_preset(name, overrides(name, world, os.path.join(args.output, name), args.batch), args)
                   for name in args.presets]
    print(json.dumps({"threads": args.threads, "load_average": [round(x, 2) for x in os.getloadavg()],
                      "results": results}, indent=1))
