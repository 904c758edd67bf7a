"""CPU step time of the paper-shaped presets (configs/paper/: MLA and mCLIP on pretrained
checkpoints) at tiny size.

Tiny random checkpoints in the real formats (``train/models/tiny_checkpoints.py``: CLIP,
XLM-R, M-BERT; width ``--width``, 2 layers) and toy OpenMoji shards are built in a
temporary folder; each preset runs as configured (model kind, objectives, frozen parts,
tokenizers, CLIP's image processor) with its checkpoint paths pointed at the tiny ones,
``--batch`` images or pairs per step, 16-token texts, and the stages' ``init`` / encoder
model files replaced by the checkpoints themselves. ``--batches`` mixed batches are
decoded first, then ``--steps`` optimizer steps run on them (``train_step``): the figures
are the median step's wall time and process CPU time (model time, not data loading), on
``--threads`` torch threads.

    .venv/bin/python benchmarks/bench_backbones.py --steps 20
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
from babelshard.textnorm import tokenize_words
from babelshard.shards.reader import iter_records
from babelshard.train.config import load_train_config
from babelshard.train.loop.distributed import DistEnv
from babelshard.train.loop.metrics import StepClock
from babelshard.train.loop.steps import train_step
from babelshard.train.loop.trainer import build_trainer
from babelshard.train.models.tiny_checkpoints import save_tiny_bert, save_tiny_clip, save_tiny_xlmr

PAPER = Path(__file__).resolve().parents[1] / "configs" / "paper"
PRESETS = ("mla-stage1", "mla-stage2", "mclip-mte-nmt", "mclip-mte", "mclip", "mclip-finetune")


def tiny_world(root: str, width: int) -> dict[str, str]:
    toy = build_toy_data(os.path.join(root, "toy"), train=160, heldout=16, size=64)
    words = sorted({w for r in iter_records(toy["caption"]) for c in r.captions.values() for w in tokenize_words(c.text)})
    return {**toy,
            "clip": save_tiny_clip(os.path.join(root, "clip"), width=width, embed_dim=width),
            "xlmr": save_tiny_xlmr(os.path.join(root, "xlmr"), words + [w.casefold() for w in words], width=width),
            "mbert": save_tiny_bert(os.path.join(root, "mbert"), words, width=width)}


def overrides(name: str, world: dict[str, str], output: str, batch: int) -> list[str]:
    clip, xlmr, mbert = world["clip"], world["xlmr"], world["mbert"]
    config = load_train_config(PAPER / f"train-{name}.yaml")
    out = [f"loop.output={output}", "loop.progress=false", "loop.precision=fp32", "data.workers=0", "eval=null",
           "model.init=null"]
    folder = world["parallel"] if name.startswith("mclip-mte") else world["caption"]
    for i, stream in enumerate(config.data.streams):
        out += [f"data.streams.{i}.folders=[{folder}]", f"data.streams.{i}.batch_size={batch}"]
        if stream.kind == "caption" and stream.image is not None:
            out.append(f"data.streams.{i}.image={{random_crop: false, processor: {clip}}}")
    clip_tokens = f"{{kind: transformers, path: {clip}, max_length: 16}}"
    if name.startswith("mla"):
        out += [f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.embeddings={mbert}", "model.bottleneck=8",
                f"tokenizer={{kind: transformers, path: {mbert}, max_length: 16, english: {clip_tokens}}}",
                f"teacher_tokenizer={clip_tokens}"]
    elif name.startswith("mclip-mte"):
        out += [f"model.checkpoint={{kind: hf_text, path: {xlmr}}}", "model.decoder={layers: 2, heads: 2}",
                f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}"]
    else:
        out += [f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.encoder={xlmr}", "model.text.heads=2",
                f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}", f"teacher_tokenizer={clip_tokens}"]
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
            "objectives": [o.kind for o in config.objectives], "batch": args.batch,
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
