"""Trainer data path and step benchmarks (CPU).

1. Loader throughput: babelshard's mixed-stream loader (index-driven shard resampling,
   decode, resize + crop + normalize, tokenization, collation) against two plain
   ``webdataset`` loops over the same shards that apply the same image transform and
   batch (no tokenization): the usual ``.decode("pil").to_tuple(...)`` (which decodes
   every member, including the 13 other-language captions and the json), and a lean one
   that selects the image and ``txt`` members first and decodes only those.
   Both run in one process; throughput is samples per second of process CPU time (robust
   when other work shares the machine) and of wall time, best of ``--repeats`` passes,
   alternating the two so both see the same machine state. A second, wall-clock-only
   comparison runs each with 2 DataLoader workers.
2. Data-wait fraction of a CPU training step: the English CLIP preset (toy scale) for
   ``--steps`` steps with 0 and 1 DataLoader workers, from its metrics.jsonl.

    .venv/bin/python benchmarks/bench_train.py --shards out/demo/caption --out docs/bench/train.json

Without ``--shards`` it renders toy OpenMoji shards into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from babelshard.shards.index import read_index
from babelshard.train.config import load_train_config
from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.tokenizer import HashTokenizer
from babelshard.train.data.transforms import center_box, resize_shorter, to_array

IMAGE = ImageConfig(size=32)


def wds_transform(image):
    """The transform babelshard applies (decode is done by webdataset here)."""
    image = image.convert("RGB")
    image = resize_shorter(image, IMAGE.size)
    return to_array(image.crop(center_box(*image.size, IMAGE.size)), IMAGE)


def wds_loader(folder: str, batch: int, workers: int):
    import webdataset as wds

    urls = [os.path.join(folder, s.name) for s in read_index(folder).shards]
    dataset = (
        wds.WebDataset(urls, shardshuffle=False, empty_check=False)
        .decode("pil")
        .to_tuple("jpg;png;webp", "txt")
        .map_tuple(wds_transform, lambda text: text)
        .batched(batch, collation_fn=lambda rows: (torch.from_numpy(np.stack([r[0] for r in rows])), [r[1] for r in rows]))
    )
    return DataLoader(dataset, batch_size=None, num_workers=workers)


def wds_lean_loader(folder: str, batch: int, workers: int):
    """The leanest plain loop: pick the two members first, decode only those."""
    import io

    import webdataset as wds
    from PIL import Image

    urls = [os.path.join(folder, s.name) for s in read_index(folder).shards]
    dataset = (
        wds.WebDataset(urls, shardshuffle=False, empty_check=False)
        .to_tuple("jpg;png;webp", "txt")
        .map_tuple(lambda data: wds_transform(Image.open(io.BytesIO(data))), lambda data: data.decode("utf-8"))
        .batched(batch, collation_fn=lambda rows: (torch.from_numpy(np.stack([r[0] for r in rows])), [r[1] for r in rows]))
    )
    return DataLoader(dataset, batch_size=None, num_workers=workers)


def babelshard_loader(folder: str, batch: int, workers: int, batches: int, draft: bool = False):
    image = IMAGE.model_copy(update={"draft": draft})
    stream = CaptionStreamConfig(name="caption", folders=[folder], batch_size=batch, languages=["en"], image=image)
    dataset = MixedStream([stream], HashTokenizer(max_length=24), batches_per_epoch=batches)
    return DataLoader(dataset, batch_size=None, num_workers=workers, generator=torch.Generator())


def time_pass(make_loader, samples: int) -> tuple[float, float]:
    """(samples/s of CPU time, samples/s of wall time) over at least ``samples`` samples."""
    seen, cpu, wall = 0, time.process_time(), time.perf_counter()
    while seen < samples:
        for item in make_loader():
            seen += len(item[1]) if isinstance(item, (list, tuple)) else len(item.streams["caption"].keys)
            if seen >= samples:
                break
    return seen / (time.process_time() - cpu), seen / (time.perf_counter() - wall)


def loader_benchmark(folder: str, samples: int, batch: int, repeats: int, workers: int) -> dict:
    batches = samples // batch
    loaders = {
        "webdataset": lambda: wds_loader(folder, batch, workers),
        "webdataset_lean": lambda: wds_lean_loader(folder, batch, workers),
        "babelshard": lambda: babelshard_loader(folder, batch, workers, batches),
        "babelshard_draft": lambda: babelshard_loader(folder, batch, workers, batches, draft=True),
    }
    runs: dict[str, list] = {name: [] for name in loaders}
    for _ in range(repeats):
        for name, make in loaders.items():
            runs[name].append(time_pass(make, samples))
    best = {name: (max(r[0] for r in rs), max(r[1] for r in rs)) for name, rs in runs.items()}
    result: dict = {"workers": workers, "samples_per_pass": samples, "batch": batch}
    for name, (cpu, wall) in best.items():
        result[f"{name}_wall_sps"] = wall
        if name.startswith("babelshard"):
            for base in ("webdataset", "webdataset_lean"):
                result[f"{name}_vs_{base}_wall"] = wall / best[base][1]
        if workers == 0:  # worker processes' CPU time is not in process_time()
            result[f"{name}_cpu_sps"] = cpu
            if name.startswith("babelshard"):
                for base in ("webdataset", "webdataset_lean"):
                    result[f"{name}_vs_{base}_cpu"] = cpu / best[base][0]
    return result


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
    parser.add_argument("--samples", type=int, default=3200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.shards
        if folder is None:
            from babelshard.pipelines.demo.toydata import write_caption_shards, pick_emoji

            folder = os.path.join(scratch, "caption")
            write_caption_shards(folder, pick_emoji(800), size=64, per_shard=100)
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
            "shards": {"folder": folder, "samples": read_index(folder).samples, "shards": len(read_index(folder).shards)},
            "loader": [loader_benchmark(folder, args.samples, args.batch, args.repeats, w) for w in (0, 2)],
            "step": [step_benchmark(folder, args.steps, w, os.path.join(scratch, f"run-{w}")) for w in (0, 1)],
        }
    print(json.dumps(results, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
