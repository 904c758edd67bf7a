"""The model stages on CPU: images/s, the trainer's step time with precomputed teacher
features, and the CLIP-score filter on the demo.

``stage``: ``babelshard features`` (Beam DirectRunner, RunInference over whole shards;
CLIP image and English text embeddings) over toy OpenMoji caption shards, against a plain
loop over the same images and captions that calls the library directly (the
checkpoint's image processor and tokenizer, ``get_image_features`` /
``get_text_features``, same batch sizes, no Beam, no shards written); alternating
rounds, the ratio of images/s.

``step``: mCLIP's TriKD on the same CLIP (frozen teacher) and a tiny XLM-R, one run
computing the teacher's image and text outputs every step (pixels decoded and passed
through the CLIP vision tower) and one reading them from the shards (pooled float32
features written by the stage); median step wall and CPU time over the same decoded
batches, their ratio, and the largest loss difference over the steps.

``demo``: the demo build (``--emoji`` OpenMoji images from the loopback server) with a
``features`` section (a tiny random CLIP: the mechanism, not the quality) that scores
every English caption; prints the score histogram from the stats and how many captions
each threshold keeps.

The CLIP is random, shaped by ``--width``/``--layers``/``--image-size``/``--patch``
(``--width 512 --layers 12 --image-size 224 --patch 32``: ViT-B/32's shape with a
512-wide vision tower, 77 text positions).

    .venv/bin/python benchmarks/bench_features.py stage --images 256 --rounds 3
    .venv/bin/python benchmarks/bench_features.py step --steps 10
    .venv/bin/python benchmarks/bench_features.py demo --emoji 1000
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time

import numpy as np

from babelshard.pipelines.demo.toydata import pick_emoji, write_caption_shards
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.train.models.tiny_checkpoints import save_tiny_clip, save_tiny_xlmr

THRESHOLDS = (-0.1, -0.05, 0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def clip_checkpoint(root: str, args: argparse.Namespace) -> str:
    return save_tiny_clip(os.path.join(root, "clip"), width=args.width, layers=args.layers, heads=max(2, args.width // 64),
                          embed_dim=args.width, image_size=args.image_size, patch_size=args.patch,
                          resize=args.image_size, max_positions=77 if args.image_size >= 224 else 32)


def features_job(output: str, checkpoint: str, batch: int, dtype: str = "float16", **extra) -> JobConfig:
    section = {"clip": {"checkpoint": checkpoint, **extra}, "batch_size": batch, "text_batch_size": batch, "dtype": dtype}
    return JobConfig.model_validate({"output": {"folder": output}, "features": section,
                                     "beam": {"direct_num_workers": 1, "direct_running_mode": "in_memory"}})


def plain_loop(records: list, checkpoint: str, batch: int) -> None:
    """The library on the same images and captions, batch by batch: what the stage is measured against."""
    import torch
    import transformers

    from babelshard.pipelines.features.models import decode_image

    model = transformers.CLIPModel.from_pretrained(checkpoint, local_files_only=True).eval()
    processor = transformers.AutoImageProcessor.from_pretrained(checkpoint, local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint, local_files_only=True)
    with torch.inference_mode():
        for start in range(0, len(records), batch):
            chunk = records[start:start + batch]
            pixels = processor(images=[decode_image(r.image) for r in chunk], return_tensors="pt")["pixel_values"]
            np.asarray(model.get_image_features(pixel_values=pixels).pooler_output, dtype=np.float16)
            texts = tokenizer([r.caption for r in chunk], padding="longest", truncation=True, return_tensors="pt")
            np.asarray(model.get_text_features(**texts).pooler_output, dtype=np.float16)


def bench_stage(args: argparse.Namespace) -> dict:
    from babelshard.pipelines.jobs.features import run_features
    from babelshard.shards.reader import iter_records

    with tempfile.TemporaryDirectory() as root:
        shards = os.path.join(root, "caption")
        write_caption_shards(shards, pick_emoji(args.images), size=64, per_shard=args.per_shard)
        checkpoint = clip_checkpoint(root, args)
        records = list(iter_records(shards))
        stage, plain = [], []  # (images per wall second, images per CPU second) per round
        for round_ in range(args.rounds):
            output = os.path.join(root, f"out{round_}")
            stage.append(rates(len(records), lambda: run_features(features_job(output, checkpoint, args.batch), shards)))
            plain.append(rates(len(records), lambda: plain_loop(records, checkpoint, args.batch)))
    ratio = lambda i: round(statistics.median(s[i] / p[i] for s, p in zip(stage, plain)), 3)  # noqa: E731
    return {"images": len(records), "clip": shape(args), "torch_threads": torch_threads(),
            "stage_images_per_s": [round(s[0], 1) for s in stage], "plain_images_per_s": [round(p[0], 1) for p in plain],
            "stage_images_per_cpu_s": [round(s[1], 1) for s in stage], "plain_images_per_cpu_s": [round(p[1], 1) for p in plain],
            "ratio_wall_median": ratio(0), "ratio_cpu_median": ratio(1)}


def rates(images: int, fn) -> tuple[float, float]:
    """Images per wall second and per process CPU second (the DirectRunner runs in this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def shape(args: argparse.Namespace) -> str:
    return f"width {args.width}, {args.layers} layers, {args.image_size} px, patch {args.patch}"


def trikd_trainer(root: str, clip: str, xlmr: str, folder: str, reading: bool, batch: int):
    from babelshard.train.config import load_train_config
    from babelshard.train.loop.distributed import DistEnv
    from babelshard.train.loop.trainer import build_trainer

    stream = (["data.streams.0.image=null", "data.streams.0.teacher_tokens=false",
               "data.streams.0.teacher_features={image: clip_image_pooled, text: clip_text_pooled_en}"] if reading
              else [f"data.streams.0.image={{random_crop: false, processor: {clip}}}"])
    config = load_train_config(os.path.join(os.path.dirname(__file__), "..", "configs", "train-mclip.yaml"), [
        f"loop.output={root}/{'reading' if reading else 'running'}", "loop.progress=false", "loop.threads=1",
        "data.workers=0", "eval=null", f"data.streams.0.folders=[{folder}]", f"data.streams.0.batch_size={batch}",
        "data.streams.0.holdout=0.0", "data.streams.0.languages=[en,de,fr]", f"model.teacher={{kind: hf_clip, path: {clip}}}",
        f"model.encoder={xlmr}", "model.text.heads=2", f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}",
        f"teacher_tokenizer={{kind: transformers, path: {clip}, max_length: 16}}", "optim.warmup_steps=0", *stream])
    return build_trainer(config, DistEnv(device="cpu"))


def timed(fn) -> tuple[float, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    loss = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, loss


def run_steps(trainer, args: argparse.Namespace) -> list[tuple[float, float, float]]:
    from babelshard.train.loop.metrics import StepClock
    from babelshard.train.loop.steps import train_step

    source = iter(trainer.dataset)
    cycle, clock = itertools.cycle([next(source) for _ in range(args.batches)]), StepClock()
    return [timed(lambda: float(train_step(trainer, cycle, clock)[0]["loss"])) for _ in range(args.steps)]


def bench_step(args: argparse.Namespace) -> dict:
    import torch

    from babelshard.pipelines.jobs.features import run_features
    from babelshard.shards.reader import iter_records
    from babelshard.textnorm import tokenize_words

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        shards = os.path.join(root, "caption")
        write_caption_shards(shards, pick_emoji(args.images), size=64, per_shard=args.per_shard)
        words = sorted({w for r in iter_records(shards) for c in r.captions.values() for w in tokenize_words(c.text)})
        clip = clip_checkpoint(root, args)
        xlmr = save_tiny_xlmr(os.path.join(root, "xlmr"), words + [w.casefold() for w in words])
        started = time.perf_counter()
        run_features(features_job(os.path.join(root, "features"), clip, args.batch, "float32", pooled=True,
                                  max_length=16), shards)
        stage_seconds = time.perf_counter() - started
        folder = os.path.join(root, "features", "caption")
        results = {}
        for reading in (False, True):
            results[reading] = run_steps(trikd_trainer(root, clip, xlmr, folder, reading, args.batch), args)
    running, reading = results[False], results[True]
    median = lambda runs, i: statistics.median(r[i] for r in runs)  # noqa: E731
    return {"clip": shape(args), "batch": args.batch, "steps": args.steps,
            "features_stage_s": round(stage_seconds, 1), "images": args.images,
            "running_step_ms": round(1000 * median(running, 0), 1), "running_cpu_ms": round(1000 * median(running, 1), 1),
            "reading_step_ms": round(1000 * median(reading, 0), 1), "reading_cpu_ms": round(1000 * median(reading, 1), 1),
            "step_time_ratio_running_over_reading": round(median(running, 0) / median(reading, 0), 2),
            "max_abs_loss_difference": max(abs(a[2] - b[2]) for a, b in zip(running, reading))}


def bench_demo(args: argparse.Namespace) -> dict:
    from babelshard.pipelines.demo.job import default_demo_config, run_demo
    from babelshard.pipelines.features.score import histogram

    with tempfile.TemporaryDirectory() as root:
        clip = save_tiny_clip(os.path.join(root, "clip"))
        cfg = default_demo_config(os.path.join(root, "demo"))
        features = JobConfig.model_validate({"output": {"folder": root}, "features": {
            "clip_score": {"checkpoint": clip, "threshold": {"en": args.threshold}}}}).features
        cfg = cfg.model_copy(update={"demo": cfg.demo.model_copy(update={"emoji_count": args.emoji, "translate": False}),
                                     "features": features})
        started = time.perf_counter()
        run_demo(cfg, echo=lambda line: None)
        seconds = time.perf_counter() - started
        with open(os.path.join(root, "demo", "caption", "stats.json"), encoding="utf-8") as handle:
            stats = json.load(handle)
    bins = histogram(stats["counters"], "en")
    scored = sum(count for _, count in bins)
    keeps = {f"{t:+.2f}": sum(count for edge, count in bins if edge >= t - 1e-9) for t in THRESHOLDS}
    return {"emoji": args.emoji, "seconds": round(seconds, 1), "inputs": stats["inputs"], "outputs": stats["outputs"],
            "drops": stats["drops"], "threshold": args.threshold, "scored": scored,
            "histogram": {f"{edge:+.2f}": count for edge, count in bins}, "kept_per_threshold": keeps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["stage", "step", "demo"])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--per-shard", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--emoji", type=int, default=1000)
    parser.add_argument("--threshold", type=float, default=0.1)
    args = parser.parse_args()
    result = {"stage": bench_stage, "step": bench_step, "demo": bench_demo}[args.what](args)
    print(json.dumps({"what": args.what, "load_average": [round(x, 2) for x in os.getloadavg()], **result}, indent=1))


if __name__ == "__main__":
    main()
