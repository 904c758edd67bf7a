"""Trainer data path and step benchmarks (CPU).

1. Loader throughput at two image sizes, every loader yielding batches of decoded,
   resized, centre-cropped, normalized images with their English captions:

   - ``babelshard``: the trainer's mixed-stream loader (index-driven shard resampling,
     in-shard shuffle, resumable cursor, decode, transform, tokenization, collation);
     ``babelshard_draft`` the same with ``image.draft`` (JPEG DCT scaling).
   - ``tarscan``: the bare baseline. Each shard of the index read whole in order, a
     minimal loop over its ustar headers keeping the image and ``txt`` members of each
     sample, babelshard's own image transform, the same tokenizer, ``np.stack``. No
     shuffling, no cursor, no checks. The goal: babelshard within 1.2× its CPU time.
   - ``webdataset``: ``.decode("pil").to_tuple("jpg;png;webp", "txt")`` (decodes every
     member: the 13 other captions, ``cs.json`` and ``json`` too); ``webdataset_lean``
     selects the two members first and decodes only those. Both apply the same image
     transform as babelshard (Pillow decode, shorter side, centre crop, normalize).

   Sizes: ``small`` is the ``--shards`` folder (the demo's 64 px JPEGs) at 32 px crops,
   in passes of ``--samples`` and of 4x as many (every pass is a fresh loader, like an
   epoch: the shards open at its end were scanned in part); ``large`` the same captions
   re-rendered from the OpenMoji SVGs as 256 px JPEGs (quality 90) at 224 px crops. One
   process, no DataLoader worker, one torch thread; throughput is samples per second of
   process CPU time (robust when other work shares the machine) and of wall time, best
   of ``--repeats`` passes, the loaders alternating so all see the same machine state;
   the goal's ratio also pass by pass (median). A second, wall-clock-only comparison
   runs the small size with 2 DataLoader workers.
2. Data-wait fraction of a CPU training step: the English CLIP preset (toy scale) for
   ``--steps`` steps with 0 and 1 DataLoader workers, from its metrics.jsonl.

    .venv/bin/python benchmarks/bench_train.py --shards out/demo/caption --out docs/bench/train.json

Without ``--shards`` it renders toy OpenMoji shards into a temporary folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import platform
import statistics
import tempfile
import time
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from babelshard.shards.index import read_index
from babelshard.train.config import load_train_config
from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.tokenizer import HashTokenizer
from babelshard.train.data.transforms import center_box, resize_shorter, to_array, transform_image

TOKENIZER = HashTokenizer(max_length=24)
IMAGE_MEMBERS = (b"jpg", b"png", b"webp")


@dataclasses.dataclass(frozen=True)
class Size:
    name: str
    folder: str
    image: ImageConfig
    samples: int


def pil_transform(image: Image.Image, config: ImageConfig) -> np.ndarray:
    """babelshard's transform on an image webdataset has decoded."""
    image = resize_shorter(image.convert("RGB"), config.size)
    return to_array(image.crop(center_box(*image.size, config.size)), config)


def collate(images: list[np.ndarray], texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.stack(images)), torch.from_numpy(TOKENIZER.encode(texts))


def tar_scan(folder: str, batch: int, config: ImageConfig) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The bare loop: shards in index order, ustar headers walked, two members decoded."""
    images: list[np.ndarray] = []
    texts: list[str] = []
    for shard in read_index(folder).shards:
        with open(os.path.join(folder, shard.name), "rb") as handle:
            data = handle.read()
        offset, key, image, text = 0, None, None, None
        while offset + 512 <= len(data) and data[offset]:
            size = int(data[offset + 124 : offset + 135], 8)
            name = data[offset : offset + 100].split(b"\0", 1)[0]
            start = offset + 512
            stem, _, member = name.partition(b".")
            if stem != key:
                key, image, text = stem, None, None
            if member in IMAGE_MEMBERS:
                image = data[start : start + size]
            elif member == b"txt":
                text = data[start : start + size].decode("utf-8")
            if image is not None and text is not None:
                images.append(transform_image(image, config))
                texts.append(text)
                image = text = None
                if len(images) == batch:
                    yield collate(images, texts)
                    images, texts = [], []
            offset = start + -(-size // 512) * 512


def wds_loader(folder: str, batch: int, workers: int, config: ImageConfig, lean: bool):
    import webdataset as wds

    urls = [os.path.join(folder, s.name) for s in read_index(folder).shards]
    dataset = wds.WebDataset(urls, shardshuffle=False, empty_check=False)
    if lean:  # pick the two members first, decode only those
        dataset = dataset.to_tuple("jpg;png;webp", "txt").map_tuple(
            lambda data: pil_transform(Image.open(io.BytesIO(data)), config), lambda data: data.decode("utf-8"))
    else:
        dataset = dataset.decode("pil").to_tuple("jpg;png;webp", "txt").map_tuple(
            lambda image: pil_transform(image, config), lambda text: text)
    dataset = dataset.batched(batch, collation_fn=lambda rows: collate([r[0] for r in rows], [r[1] for r in rows]))
    return DataLoader(dataset, batch_size=None, num_workers=workers)


def babelshard_loader(folder: str, batch: int, workers: int, batches: int, config: ImageConfig, draft: bool = False):
    image = config.model_copy(update={"draft": draft})
    stream = CaptionStreamConfig(name="caption", folders=[folder], batch_size=batch, languages=["en"], image=image)
    dataset = MixedStream([stream], TOKENIZER, batches_per_epoch=batches)
    return DataLoader(dataset, batch_size=None, num_workers=workers, generator=torch.Generator())


def batch_rows(item) -> int:
    return len(item[1]) if isinstance(item, (list, tuple)) else len(item.streams["caption"].keys)


def time_pass(make_loader: Callable[[], Iterator], samples: int) -> tuple[float, float]:
    """(samples/s of CPU time, samples/s of wall time) over at least ``samples`` samples."""
    seen, cpu, wall = 0, time.process_time(), time.perf_counter()
    while seen < samples:
        for item in make_loader():
            seen += batch_rows(item)
            if seen >= samples:
                break
    return seen / (time.process_time() - cpu), seen / (time.perf_counter() - wall)


def loaders(size: Size, batch: int, workers: int) -> dict[str, Callable[[], Iterator]]:
    folder, config, batches = size.folder, size.image, size.samples // batch
    out: dict[str, Callable[[], Iterator]] = {}
    if workers == 0:
        out["tarscan"] = lambda: tar_scan(folder, batch, config)
    out["webdataset"] = lambda: wds_loader(folder, batch, workers, config, lean=False)
    out["webdataset_lean"] = lambda: wds_loader(folder, batch, workers, config, lean=True)
    out["babelshard"] = lambda: babelshard_loader(folder, batch, workers, batches, config)
    out["babelshard_draft"] = lambda: babelshard_loader(folder, batch, workers, batches, config, draft=True)
    return out


def loader_benchmark(size: Size, batch: int, repeats: int, workers: int) -> dict:
    makers = loaders(size, batch, workers)
    runs: dict[str, list] = {name: [] for name in makers}
    for _ in range(repeats):
        for name, make in makers.items():
            runs[name].append(time_pass(make, size.samples))
    best = {name: (max(r[0] for r in rs), max(r[1] for r in rs)) for name, rs in runs.items()}
    result: dict = {"size": size.name, "image": size.image.size, "workers": workers, "samples_per_pass": size.samples,
                    "batch": batch, "repeats": repeats, "load_average": os.getloadavg()[0]}
    bases = [b for b in ("tarscan", "webdataset", "webdataset_lean") if b in best]
    for name, (cpu, wall) in best.items():
        result[f"{name}_wall_sps"] = wall
        if workers == 0:  # worker processes' CPU time is not in process_time()
            result[f"{name}_cpu_sps"] = cpu
            result[f"{name}_cpu_us_per_sample"] = 1e6 / cpu
        if name.startswith("babelshard"):
            for base in bases:
                result[f"{name}_vs_{base}_wall"] = wall / best[base][1]
                if workers == 0:
                    result[f"{name}_vs_{base}_cpu"] = cpu / best[base][0]
    if workers == 0:  # the goal: CPU time per sample over the bare scan's, best against best and pass by pass
        result["babelshard_cpu_time_over_tarscan"] = best["tarscan"][0] / best["babelshard"][0]
        paired = [t[0] / b[0] for t, b in zip(runs["tarscan"], runs["babelshard"])]
        result["babelshard_cpu_time_over_tarscan_per_pass"] = paired
        result["babelshard_cpu_time_over_tarscan_median"] = statistics.median(paired)
    return result


def render_large_shards(folder: str, count: int, side: int = 256) -> str:
    """OpenMoji captions with their images rendered at ``side`` px as JPEGs (quality 90)."""
    from babelshard.pipelines.demo.toydata import caption_records, pick_emoji
    from babelshard.shards.writer import write_records
    from babelshard.train.data.transforms import decode_rgb

    def as_jpeg(record):
        buffer = io.BytesIO()
        decode_rgb(record.image).save(buffer, format="JPEG", quality=90)
        return dataclasses.replace(record, image=buffer.getvalue(), image_format="jpg", features={})

    write_records(folder, "caption", (as_jpeg(r) for r in caption_records(pick_emoji(count), side)), max_samples=250)
    return folder


def step_benchmark(folder: str, steps: int, workers: int, output: str) -> dict:
    overrides = [
        f"data.streams.0.folders=[{folder}]", f"data.workers={workers}", f"loop.output={output}",
        f"loop.max_steps={steps}", "loop.log_every=5", "loop.checkpoint_every=0", "loop.progress=false", "loop.threads=1",
    ]
    config = load_train_config("configs/train-clip-en.yaml", overrides)
    from babelshard.train.loop.steps import train
    from babelshard.train.loop.metrics import read_metrics

    train(config)
    records = read_metrics(os.path.join(output, "metrics.jsonl"))[1:]  # the first interval includes start-up
    return {
        "workers": workers,
        "steps": steps,
        "batch": config.data.streams[0].batch_size,
        "data_wait_fraction": statistics.mean(r["data_wait_fraction"] for r in records),
        "step_seconds": statistics.mean(r["step_seconds"] for r in records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", help="a caption shard folder (default: toy OpenMoji shards in a temp folder)")
    parser.add_argument("--samples", type=int, default=3200, help="samples per pass at the small size (also 4x that)")
    parser.add_argument("--large-samples", type=int, default=768, help="samples per pass at the large size")
    parser.add_argument("--large-count", type=int, default=1000, help="emoji rendered for the large size")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--skip-steps", action="store_true", help="only the loader comparison")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.shards
        if folder is None:
            from babelshard.pipelines.demo.toydata import write_caption_shards, pick_emoji

            folder = os.path.join(scratch, "caption")
            write_caption_shards(folder, pick_emoji(800), size=64, per_shard=100)
        large = render_large_shards(os.path.join(scratch, "large"), args.large_count)
        sizes = [Size("small", folder, ImageConfig(size=32), args.samples),
                 Size("small", folder, ImageConfig(size=32), 4 * args.samples),
                 Size("large", large, ImageConfig(size=224), args.large_samples)]
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
            "shards": {size.name: {"folder": size.folder, "samples": read_index(size.folder).samples,
                                   "shards": len(read_index(size.folder).shards),
                                   "bytes": sum(s.bytes for s in read_index(size.folder).shards)} for size in sizes},
            "loader": [loader_benchmark(size, args.batch, args.repeats, 0) for size in sizes]
            + [loader_benchmark(sizes[0], args.batch, args.repeats, 2)],
        }
        if not args.skip_steps:
            results["step"] = [step_benchmark(folder, args.steps, w, os.path.join(scratch, f"run-{w}")) for w in (0, 1)]
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
