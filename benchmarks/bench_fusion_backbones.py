"""CPU step time of the paper-shaped fusion presets (configs/paper/: the unified mVLP,
M3P, SMALR) at tiny size.

Built in a temporary folder: toy OpenMoji shards, tiny random checkpoints in the real
formats (``train/models/tiny_checkpoints.py``: a 4-layer XLM-R split 2 + 2 for the unified
model, all 4 layers for M3P, a CLIP image tower; width ``--width``), the toy caption shards
rewritten with region members (``train/data/toy_regions.py``: 8-16 grid regions of 12-d
an image, boxes, 6-class distributions) and a hybrid vocabulary from the vocab job (48-d
fastText). Each preset runs as configured (objectives, per-stream lengths, RandAugment,
online code-switching) with its paths pointed at these, ``--batch`` images per step (the
unified model's pairs and sentences 4 times as many, as in its 512 : 2048 : 2048) and
16-token texts. ``--batches`` mixed batches are decoded first, then ``--steps`` optimizer
steps run on them (``train_step``): the figures are the median step's wall time and
process CPU time (model time, not data loading), on ``--threads`` torch threads.

    .venv/bin/python benchmarks/bench_fusion_backbones.py --steps 20
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

import torch

from babelshard.pipelines.demo.toydata import build_toy_data
from babelshard.shards.reader import iter_records
from babelshard.textnorm import tokenize_words
from babelshard.train.config import load_train_config
from babelshard.train.data.toy_regions import write_region_shards
from babelshard.train.loop.distributed import DistEnv
from babelshard.train.loop.metrics import StepClock
from babelshard.train.loop.steps import train_step
from babelshard.train.loop.trainer import build_trainer
from babelshard.train.models.tiny_checkpoints import save_tiny_clip, save_tiny_xlmr

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper"
PRESETS = ("unified", "m3p", "smalr")
SMALR_LANGUAGES = ("de", "en", "es", "fr")


def hybrid_vocab(root: str, captions: str) -> str:
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import FastTextConfig, HybridConfig, VocabConfig

    output = os.path.join(root, "vocab")
    build_vocab(VocabConfig(captions=(captions,), languages=SMALR_LANGUAGES, output=output,
                            fasttext=FastTextConfig(dim=48, epoch=5, min_count=1, bucket=20000, minn=2, maxn=4),
                            hybrid=HybridConfig(min_count=3, num_shared=48)))
    return os.path.join(output, "hybrid")


def tiny_world(root: str, width: int) -> dict[str, str]:
    toy = build_toy_data(os.path.join(root, "toy"), train=160, heldout=16, size=32)
    words = sorted({w for r in iter_records(toy["caption"]) for c in r.captions.values() for w in tokenize_words(c.text)})
    return {**toy,
            "xlmr": save_tiny_xlmr(os.path.join(root, "xlmr"), words + [w.casefold() for w in words], width=width, layers=4),
            "clip": save_tiny_clip(os.path.join(root, "clip"), width=width, embed_dim=width),
            "regions": write_region_shards(toy["caption"], os.path.join(root, "regions")),
            "hybrid": hybrid_vocab(root, toy["caption"])}


def overrides(name: str, world: dict[str, str], output: str, batch: int) -> list[str]:
    out = [f"loop.output={output}", "loop.progress=false", "loop.precision=fp32", "data.workers=0"]
    text_folders = f"[{world['text/en']}, {world['text/de']}, {world['text/ja']}]"
    if name == "unified":
        out += [f"tokenizer={{kind: transformers, path: {world['xlmr']}, max_length: 16}}",
                f"model.text_checkpoint.path={world['xlmr']}", "model.text_layers=2", f"model.image_checkpoint.path={world['clip']}",
                f"data.streams.0.folders=[{world['caption']}]", f"data.streams.0.batch_size={batch}", "data.streams.0.max_length=16",
                f"data.streams.1.folders=[{world['parallel']}]", f"data.streams.1.batch_size={4 * batch}", "data.streams.1.max_length=16",
                f"data.streams.2.folders={text_folders}", f"data.streams.2.batch_size={4 * batch}"]
    elif name == "m3p":
        out += [f"tokenizer={{kind: transformers, path: {world['xlmr']}, max_length: 16}}",
                f"model.text_checkpoint.path={world['xlmr']}", "model.vision={kind: regions, feature_dim: 12, box_dim: 5, classes: 6}",
                f"data.streams.0.folders=[{world['regions']}]", f"data.streams.0.batch_size={batch}",
                "data.streams.0.codeswitch.lexicon={lexicons: [{format: cldr}], word_ratio: 0.5}",
                f"data.streams.1.folders={text_folders}", f"data.streams.1.batch_size={batch}"]
    else:
        out += [f"tokenizer={{kind: hybrid, path: {world['hybrid']}, max_length: 16}}", f"model.hybrid_vocab={world['hybrid']}",
                "model.text={width: 32, layers: 2, heads: 2}", "model.embed_dim=32",
                "model.vision={kind: features, feature_dim: 12, width: 32}",
                f"data.streams.0.folders=[{world['regions']}]", "data.streams.0.features=pooled",
                f"data.streams.0.languages=[{', '.join(SMALR_LANGUAGES)}]", f"data.streams.0.batch_size={batch}",
                f"data.streams.1.folders=[{world['regions']}]", "data.streams.1.pair_languages=[de, es, fr]",
                f"data.streams.1.batch_size={batch}"]
    return out


def timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(name: str, world: dict[str, str], args: argparse.Namespace) -> dict:
    config = load_train_config(PAPER / f"train-{name}.yaml", overrides(name, world, os.path.join(args.output, name), args.batch))
    trainer = build_trainer(config, DistEnv(device="cpu"))
    source = iter(trainer.dataset)
    batches = [next(source) for _ in range(args.batches)]
    cycle, clock = itertools.cycle(batches), StepClock()
    for _ in range(args.warmup):
        train_step(trainer, cycle, clock)
    runs = [timed(lambda: train_step(trainer, cycle, clock)) for _ in range(args.steps)]
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {"preset": f"configs/paper/train-{name}.yaml", "model": config.model.kind,
            "objectives": [o.kind for o in config.objectives],
            "rows_per_step": {n: len(b.keys) for n, b in batches[0].streams.items()},
            "step_ms": round(1000 * statistics.median(w for w, _ in runs), 1),
            "cpu_ms": round(1000 * statistics.median(c for _, c in runs), 1),
            "trainable_params": trainable, "params": sum(p.numel() for p in trainer.model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        args.output = args.output or os.path.join(root, "runs")
        world = tiny_world(root, args.width)
        results = [bench(name, world, args) for name in args.presets]
    print(json.dumps({"threads": args.threads, "load_average": [round(x, 2) for x in os.getloadavg()],
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
