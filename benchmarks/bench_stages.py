"""CPU seconds per sample of each caption-job stage, bytes per sample crossing each
GroupByKey, and peak memory: the figures ``docs/scale.md`` sizes a cluster run from.

The stages run as the job's own per-record functions, one after the other in this
process, on a generated caption list whose images come from a loopback server in
another process (``babelshard.pipelines.demo.httpserver``, synthetic photos of
320-2048 px, so the server's CPU is not counted):

- read + clean: TSV lines to records (``parse_tsv_line``), ``clean_caption``;
- dedup grouping: ``resolve_duplicates`` per URL, and the (URL, record) elements that
  cross its GroupByKey, encoded with Beam's coder for untyped elements;
- shard plan: ``shard_of`` per record, and the (shard, record) elements that cross
  ``GroupByShard``, encoded the same way;
- download + check + resize: ``Downloads`` (the thread pool, fetch, sha256, checks,
  resize, JPEG encode) and ``encode_sample``, a shard at a time;
- shard write: ``write_shard`` (sorted tar, sha256, failures, stats).

CPU is the process's (all threads). With ``--end-to-end`` the same list also goes
through ``babelshard build`` on the DirectRunner, to show what Beam adds.

    .venv/bin/python benchmarks/bench_stages.py --captions 10000
    .venv/bin/python benchmarks/bench_stages.py --captions 30000 --end-to-end
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from bench_download import prepare_photos, start_server
from timed_run import timed_run

BIN = Path(sys.executable).parent
WORDS = ("a red apple on a wooden table two dogs play in the park cat sleeping couch man riding bicycle down street "
         "woman holding umbrella rain group of people standing near building view city skyline at night close up "
         "flower garden children beach ocean waves mountain snow car parked road").split()


def caption_list(path: Path, base_url: str, files: list[str], count: int, seed: int = 0) -> None:
    """CC12M-like lines (url, caption): 5-30 words; 1% repeat an earlier URL, 1% are too short."""
    rng = random.Random(seed)
    lines = []
    for number in range(count):
        url = f"{base_url}/{files[number % len(files)]}?n={number}"
        if number and rng.random() < 0.01:
            url = f"{base_url}/{files[0]}?n={rng.randrange(number)}"
        words = 1 if rng.random() < 0.01 else rng.randint(5, 30)
        lines.append(f"{url}\t{' '.join(rng.choice(WORDS) for _ in range(words))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Stages:
    """CPU seconds and counts per stage."""

    def __init__(self):
        self.cpu: dict[str, float] = defaultdict(float)

    def timed(self, name: str, fn, *args):
        started = time.process_time()
        result = fn(*args)
        self.cpu[name] += time.process_time() - started
        return result


def encoded_sizes(elements: list, limit: int = 2000) -> tuple[float, float]:
    """(bytes per element, encode + decode CPU seconds per element) with Beam's coder for
    untyped elements (the pipeline's GroupByKeys carry no type hints), on up to ``limit``."""
    import apache_beam as beam
    import typing

    coder = beam.coders.registry.get_coder(typing.Any)
    picked = elements[:limit]
    started = time.process_time()
    sizes = [len(coder.encode(element)) for element in picked]
    for element in picked:
        coder.decode(coder.encode(element))
    cpu = time.process_time() - started
    return sum(sizes) / max(1, len(picked)), cpu / max(1, len(picked)) / 1.5  # one encode, one decode


def read_and_clean(tsv: Path, cfg) -> tuple[list, list]:
    from babelshard.pipelines.captions.cleaning import clean_caption
    from babelshard.pipelines.captions.sources import parse_tsv_line
    from babelshard.stats import Drop

    src, records, drops = cfg.captions.sources[0], [], []
    with open(tsv, encoding="utf-8") as handle:
        for line in handle:
            parsed = parse_tsv_line(line, src)
            result = parsed if isinstance(parsed, Drop) else clean_caption(parsed, cfg.captions.cleaning)
            (drops if isinstance(result, Drop) else records).append(result)
    return records, drops


def dedup(records: list) -> tuple[list, list]:
    from babelshard.pipelines.captions.cleaning import resolve_duplicates
    from babelshard.stats import Drop

    groups = defaultdict(list)
    for record in records:
        groups[record.url].append(record)
    kept, drops = [], []
    for group in groups.values():
        for result in resolve_duplicates(group):
            (drops if isinstance(result, Drop) else kept).append(result)
    return kept, drops


def plan(records: list, drops: list, per_shard: int) -> dict[int, list]:
    from babelshard.shards.bucket import shard_count, shard_of

    num_shards = shard_count(len(records), per_shard)
    shards = defaultdict(list)
    for item in records + drops:
        shards[shard_of(item.key, num_shards)].append(item)
    return shards


def job_config(tsv: Path, output: Path, args):
    from babelshard.configbase import parse_config
    from babelshard.pipelines.jobs.config import JobConfig

    return parse_config(JobConfig, {
        "name": "bench-stages",
        "output": {"folder": str(output), "samples_per_shard": args.per_shard},
        "captions": {
            "sources": [{"name": "bench", "format": "tsv", "path": str(tsv), "columns": ["url", "caption"]}],
            "cleaning": {"min_chars": 5},
            "download": {"thread_count": args.threads, "timeout": 10, "retries": 0, "allow_loopback": True,
                         "per_host_concurrency": args.threads, "per_host_rate": 0,
                         "image": {"image_size": 256, "resize_mode": "border", "min_image_size": 64}},
        },
    })


def run_stages(tsv: Path, output: Path, args) -> dict:
    from babelshard.pipelines.captions.download import Downloads
    from babelshard.pipelines.captions.download_shards import download_shard
    from babelshard.pipelines.jobs.build import caption_config_hash, caption_folder
    from babelshard.shards.bucket import write_shard

    cfg, stages = job_config(tsv, output, args), Stages()
    Downloads(cfg.captions.download).close()  # imports the download path before the memory baseline
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    records, drops = stages.timed("read_clean", read_and_clean, tsv, cfg)
    dedup_bytes, dedup_coder_cpu = encoded_sizes([(record.url, record) for record in records])
    records, dedup_drops = stages.timed("dedup", dedup, records)
    shards = stages.timed("plan", plan, records, drops + dedup_drops, args.per_shard)
    shard_elements = [(number, item) for number, items in shards.items() for item in items]
    shard_bytes, shard_coder_cpu = encoded_sizes(shard_elements)
    folder, digest, downloads = caption_folder(cfg), caption_config_hash(cfg), Downloads(cfg.captions.download)
    samples_written, peak_shard_bytes = 0, 0
    try:
        for number in sorted(shards):
            samples, shard_drops = stages.timed("download_check_resize", download_shard, shards[number], downloads)
            written = stages.timed("shard_write", write_shard, folder, number, len(shards), samples, shard_drops, digest)
            samples_written += written.stats["samples"]
            peak_shard_bytes = max(peak_shard_bytes, written.stats["bytes"])
            del samples, shard_drops  # as in the job's DoFn: one shard's samples alive at a time
    finally:
        downloads.close()
    inputs = len(shard_elements)
    return {
        "inputs": inputs, "samples": samples_written, "shards": len(shards),
        "cpu_ms_per_input": {name: round(1000 * cpu / inputs, 3) for name, cpu in stages.cpu.items()},
        "cpu_ms_per_sample": {name: round(1000 * cpu / max(1, samples_written), 3) for name, cpu in stages.cpu.items()},
        "shuffle_bytes_per_input": {"dedup": round(dedup_bytes), "group_by_shard": round(shard_bytes)},
        "coder_ms_per_element": {"dedup": round(1000 * dedup_coder_cpu, 4), "group_by_shard": round(1000 * shard_coder_cpu, 4)},
        "largest_shard_mb": round(peak_shard_bytes / 1e6, 1),
        "rss_before_stages_mib": round(baseline_rss / 1024),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_end_to_end(tsv: Path, output: Path, args, env: dict) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    config = output.parent / "bench-stages.yaml"
    config.write_text(yaml.safe_dump(job_config(tsv, output, args).model_dump(mode="json")), encoding="utf-8")
    seconds, cpu = timed_run([str(BIN / "babelshard"), "build", str(config)], env)
    index = json.loads((output / "caption" / "index.json").read_text())
    samples = index["totals"]["samples"]
    return {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "samples": samples,
            "cpu_ms_per_sample": round(1000 * cpu / samples, 3)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=200, help="distinct synthetic photos the server holds")
    parser.add_argument("--per-shard", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--end-to-end", action="store_true", help="also run babelshard build on the same list")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-stages-"))
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    files = prepare_photos(workdir / "site", args.photos)
    server, base_url = start_server(workdir / "site")
    try:
        tsv = workdir / "captions.tsv"
        caption_list(tsv, base_url, files, args.captions)
        shutil.rmtree(workdir / "out-stages", ignore_errors=True)
        result = {"captions": args.captions, "per_shard": args.per_shard, "threads": args.threads,
                  "cpus": os.cpu_count(), "stages": run_stages(tsv, workdir / "out-stages", args)}
        if args.end_to_end:
            result["end_to_end"] = run_end_to_end(tsv, workdir / "out-build", args, env)
        result["load_average"] = [round(load, 1) for load in os.getloadavg()]
    finally:
        server.terminate()
        server.wait()
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
