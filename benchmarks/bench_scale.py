"""Peak memory of a caption job's workers as shards grow (``memory``).

A ``babelshard build`` of N captions (DirectRunner, multi_processing) downloads synthetic
photos (JPEG, ~21-30 KB, 320x240 and 384x288) from the loopback image server
(``babelshard.pipelines.demo.httpserver``, its own process) and writes 256 px shards. While
it runs, every process of the job is sampled through ``/proc/<pid>/status``: its peak
resident set (``VmHWM``, the kernel's own high-water mark) is kept per process. Each
run is one ``samples_per_shard`` with one ``output.shard_memory_bytes``, so the table
shows whether the workers' peak follows the memory budget or the shard's size.

    .venv/bin/python benchmarks/bench_scale.py memory --captions 100000 --per-shard 2500 10000 \
        --memory-mib 256 off
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench_download import start_server, write_url_list

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PHOTO_SIDES = [(320, 240), (384, 288)]
OFF = 1 << 40  # a budget no shard reaches: every sample held in memory, as before the spill existed


def prepare_photos(folder: Path, count: int) -> list[str]:
    from babelshard.testing import encode_image, synthetic_photo

    (folder / "photos").mkdir(parents=True, exist_ok=True)
    names = []
    for number in range(count):
        width, height = PHOTO_SIDES[number % len(PHOTO_SIDES)]
        name = f"photos/photo-{number}-{width}x{height}.jpg"
        if not (folder / name).exists():  # kept between runs in the same --workdir
            (folder / name).write_bytes(encode_image(synthetic_photo(width, height, number), "JPEG", quality=90))
        names.append(name)
    return names


def job_config(urls: Path, output: Path, per_shard: int, memory_bytes: int, threads: int) -> dict:
    return {
        "name": "bench-scale",
        "output": {"folder": str(output), "samples_per_shard": per_shard, "shard_memory_bytes": memory_bytes},
        "captions": {
            "sources": [{"name": "bench", "format": "tsv", "path": str(urls), "columns": ["url", "caption"], "header": True}],
            "download": {
                "thread_count": threads, "timeout": 20, "retries": 1, "allow_loopback": True,
                "per_host_concurrency": threads, "per_host_rate": 0,
                "image": {"image_size": 256, "resize_mode": "border", "encode_format": "jpg", "encode_quality": 95},
            },
        },
    }


def descendants(root: int) -> set[int]:
    """``root`` and every process below it, from the parent ids in ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def process_peak(pid: int) -> tuple[int, str] | None:
    """(VmHWM in KiB, what the process is) or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]), command
    return None


def kind_of(command: str) -> str:
    if "sdk_worker_main" in command or "worker_pool_main" in command:
        return "worker"
    if "babelshard build" in command or "babelshard" in command.split(" ", 2)[1:2]:
        return "main"
    return "other"


def run_build(config: Path, processes: int, env: dict, interval: float) -> dict:
    """Run the build, sampling every process of it; wall seconds and peak RSS per process."""
    command = [str(BIN / "babelshard"), "build", str(config),
               "--direct_running_mode=multi_processing", f"--direct_num_workers={processes}"]
    started = time.perf_counter()
    build = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    peaks: dict[int, tuple[int, str]] = {}
    while build.poll() is None:
        for pid in descendants(build.pid):
            found = process_peak(pid)
            if found is not None:
                peaks[pid] = (max(found[0], peaks.get(pid, (0, ""))[0]), found[1])
        time.sleep(interval)
    output = build.stdout.read()
    if build.returncode != 0:
        raise RuntimeError(f"build failed:\n{output[-3000:]}")
    by_kind: dict[str, list[int]] = {}
    for peak, what in peaks.values():
        by_kind.setdefault(kind_of(what), []).append(peak)
    return {"seconds": round(time.perf_counter() - started, 1), "peaks_kib": {k: sorted(v, reverse=True) for k, v in by_kind.items()}}


def measure(args, workdir: Path, urls: Path, per_shard: int, budget: str, env: dict) -> dict:
    memory_bytes = OFF if budget == "off" else int(budget) << 20
    output = workdir / f"out-{per_shard}-{budget}"
    shutil.rmtree(output, ignore_errors=True)
    config = workdir / f"bench-{per_shard}-{budget}.yaml"
    config.write_text(yaml.safe_dump(job_config(urls, output, per_shard, memory_bytes, args.threads)), encoding="utf-8")
    load_before = os.getloadavg()[0]
    run = run_build(config, args.processes, env, args.interval)
    index = json.loads((output / "caption" / "index.json").read_text())
    shard_bytes = [shard["bytes"] for shard in index["shards"]]
    workers = run["peaks_kib"].get("worker", [])
    result = {
        "captions": args.captions, "samples_per_shard": per_shard, "memory_budget_mib": budget,
        "samples": index["totals"]["samples"], "shards": len(shard_bytes),
        "largest_shard_mib": round(max(shard_bytes) / 2**20, 1), "mean_shard_mib": round(sum(shard_bytes) / len(shard_bytes) / 2**20, 1),
        "peak_worker_rss_mib": [round(kib / 1024) for kib in workers[: args.processes]],  # not their shell wrappers
        "peak_main_rss_mib": round(max(run["peaks_kib"].get("main", [0])) / 1024),
        "seconds": run["seconds"], "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }
    if not args.keep:
        shutil.rmtree(output, ignore_errors=True)
    return result


def memory(args) -> list[dict]:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    files = prepare_photos(workdir / "site", args.photos)
    server, base_url = start_server(workdir / "site")
    results = []
    try:
        write_url_list(workdir / "urls.tsv", base_url, files, args.captions, caption="a synthetic photo")
        for per_shard in args.per_shard:
            for budget in args.memory_mib:
                results.append(measure(args, workdir, workdir / "urls.tsv", per_shard, budget, env))
                print(json.dumps(results[-1]), flush=True)
    finally:
        server.terminate()
        server.wait()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    mem = commands.add_parser("memory", help="peak RSS of the caption job's workers per shard size and memory budget")
    mem.add_argument("--captions", type=int, default=100_000)
    mem.add_argument("--per-shard", type=int, nargs="+", default=[2_500, 10_000])
    mem.add_argument("--memory-mib", nargs="+", default=["256", "off"], help="output.shard_memory_bytes in MiB, or off")
    mem.add_argument("--processes", type=int, default=2)
    mem.add_argument("--threads", type=int, default=16)
    mem.add_argument("--photos", type=int, default=200, help="distinct photos served (URLs repeat them)")
    mem.add_argument("--interval", type=float, default=0.25, help="seconds between samples of /proc")
    mem.add_argument("--workdir", default=None)
    mem.add_argument("--keep", action="store_true", help="keep the output folders")
    args = parser.parse_args(argv)
    memory(args)


if __name__ == "__main__":
    main()
