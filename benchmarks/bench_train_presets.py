"""Step time of the fusion presets (M3P, unified mVLP, SMALR) at their toy scale.

Each preset in configs/ is built as configured (model, objectives, batch sizes), with its
caption folders pointed at ``--data`` (default: the demo shards, ``babelshard demo
--output out/demo``). ``--batches`` mixed batches are decoded first (in this process),
then ``--steps`` optimizer steps run on them through part 1's ``train_step``: the
figures are model time only (forward, backward, optimizer), not data loading, which is
timed separately per batch (the first batch, which reads whole shards, is left out).
CPU figures are the median step's wall time and the process CPU time it used (torch on
one thread, data in this process: CPU time is what one core spends even when other work
shares the machine, which inflates the wall time). With ``--device cuda`` the same steps run on the GPU (wall
time after synchronising), optionally under bf16 autocast.

    .venv/bin/python benchmarks/bench_train_presets.py --steps 20
    .venv/bin/python benchmarks/bench_train_presets.py --device cuda --precision bf16 --scale 4
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from pathlib import Path

import torch

from babelshard.train.config import load_train_config
from babelshard.train.loop.distributed import DistEnv
from babelshard.train.loop.steps import train_step
from babelshard.train.loop.metrics import StepClock
from babelshard.train.loop.trainer import build_trainer

PRESETS = Path(__file__).resolve().parents[1] / "configs"


def preset_overrides(name: str, data: str, output: str, vocab: str | None, scale: int, precision: str) -> list[str]:
    config = load_train_config(PRESETS / f"train-{name}.yaml")
    out = [f"loop.output={output}", "loop.progress=false", "data.workers=0", f"loop.precision={precision}"]
    for i, stream in enumerate(config.data.streams):
        out += [f"data.streams.{i}.folders=[{data}]", f"data.streams.{i}.batch_size={stream.batch_size * scale}"]
    if name == "smalr":
        if vocab is None:
            raise SystemExit("smalr needs --vocab (babelshard vocab build configs/train-smalr-vocab.yaml)")
        out += [f"tokenizer.path={vocab}", f"model.hybrid_vocab={vocab}"]
    return out


def timed(device: str, fn) -> tuple[float, float]:
    """(wall, process CPU) seconds of ``fn()``."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_preset(name: str, args: argparse.Namespace) -> dict:
    overrides = preset_overrides(name, args.data, os.path.join(args.output, name), args.vocab, args.scale, args.precision)
    config = load_train_config(PRESETS / f"train-{name}.yaml", overrides)
    trainer = build_trainer(config, DistEnv(device=args.device))
    source = iter(trainer.dataset)
    batches, decode = [], []
    for _ in range(args.batches):
        batches.append(None)
        decode.append(timed("cpu", lambda: batches.__setitem__(-1, next(source)))[0])
    cycle = itertools.cycle(batches)
    clock = StepClock()
    for _ in range(args.warmup):
        train_step(trainer, cycle, clock)
    walls, cpus = [], []
    for _ in range(args.steps):
        wall, cpu = timed(args.device, lambda: train_step(trainer, cycle, clock))
        walls.append(wall)
        cpus.append(cpu)
    sizes = {s.name: s.batch_size for s in config.data.streams}
    step = statistics.median(walls)
    return {
        "preset": name, "device": args.device, "precision": args.precision, "batch": sizes,
        "parameters": sum(p.numel() for p in trainer.module.parameters()),
        "step_wall_s": step, "step_cpu_s": statistics.median(cpus),
        "samples_per_s": {k: v / step for k, v in sizes.items()},
        "decode_s_per_batch": statistics.median(decode[1:] or decode),
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| preset | device | batch per stream | parameters | step (wall) | step (process CPU) | samples/s | decode s/batch |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        batch = " + ".join(f"{v} {k}" for k, v in r["batch"].items())
        rate = " + ".join(f"{v:.0f}" for v in r["samples_per_s"].values())
        lines.append(f"| {r['preset']} | {r['device']} {r['precision']} | {batch} | {r['parameters'] / 1e6:.2f} M | "
                     f"{r['step_wall_s'] * 1000:.0f} ms | {r['step_cpu_s'] * 1000:.0f} ms | {rate} | {r['decode_s_per_batch']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="out/demo/caption", help="caption shard folder every stream reads")
    parser.add_argument("--vocab", default="out/vocab/smalr/hybrid", help="hybrid vocabulary for smalr")
    parser.add_argument("--presets", nargs="+", default=["m3p", "unified", "smalr"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--scale", type=int, default=1, help="multiply every stream's batch size")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default="/tmp/bench-train-presets")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.presets:
        rows.append(bench_preset(name, args))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
