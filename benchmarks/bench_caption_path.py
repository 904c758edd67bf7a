"""What translating before the download costs: one ``babelshard build`` with Apertium
translation (en -> es, ca), code-switching (CLDR lexicon) and MT pairs, over OpenMoji
captions whose images are local ``file://`` URLs, a share of them pointing at missing
files (each a ``download/not_found`` drop, as a dead link in CC3M).

Reports wall and CPU seconds of the command and its children (Apertium runs in child
processes) and, from the output, the download drops: every one of them had its caption
translated into every target first. With ``--baseline-bin`` another checkout's
``babelshard`` (the old code) builds the same inputs in the same rounds, alternating
which goes first, and the caption and MT-pair shards of both are compared byte for byte.

    .venv/bin/python benchmarks/bench_caption_path.py --captions 400 --missing 0.2 --rounds 3 \\
        --baseline-bin /path/to/old/checkout/.venv/bin [--image-size 256 --processes 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
TARGETS = ("es", "ca")


def write_inputs(folder: Path, count: int, missing: float, size: int) -> Path:
    """OpenMoji images and captions; every row whose share of ``missing`` rolls over points nowhere."""
    from babelshard.pipelines.demo.openmoji import CAPTIONS, write_openmoji_dataset

    write_openmoji_dataset(folder, count, size=size, languages=["en", "de", "ja"], base_url=f"file://{folder}")
    rows = [json.loads(line) for line in (folder / CAPTIONS).read_text(encoding="utf-8").splitlines()]
    for number, row in enumerate(rows):
        if int((number + 1) * missing) > int(number * missing):
            row["url"] = row["url"].replace("/images/", "/images/missing-")
    path = folder / "captions-bench.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def job_config(captions: Path, output: Path, image_size: int) -> dict:
    return {
        "name": "bench-caption-path",
        "output": {"folder": str(output), "samples_per_shard": 100},
        "captions": {
            "sources": [{"name": "moji", "format": "jsonl", "path": str(captions), "key_column": "key",
                         "language_columns": {"de": "caption_de", "ja": "caption_ja"}}],
            "cleaning": {"min_chars": 1},
            "download": {"thread_count": 4, "allow_file_urls": True, "image": {"image_size": image_size}},
        },
        "translate": {
            "source_language": "en", "targets": {lang: "apertium" for lang in TARGETS},
            "engines": {"apertium": {"kind": "apertium"}}, "when_human_exists": "translate",
            "filters": {"length_ratio_min_chars": 20, "lid_min_words": 4}, "outputs": {"captions": True, "parallel": True},
        },
        "codeswitch": {"lexicons": [{"format": "cldr"}], "variants": 2, "sent_ratio": 1.0, "word_ratio": 0.5},
    }


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.name.endswith((".tar", ".parquet", "stats.json", "index.json")):
            digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build(bin_dir: Path, captions: Path, workdir: Path, name: str, args, env: dict) -> dict:
    output = workdir / f"out-{name}"
    shutil.rmtree(output, ignore_errors=True)
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump(job_config(captions, output, args.image_size)), encoding="utf-8")
    command = [str(bin_dir / "babelshard"), "build", str(config)]
    if args.processes > 1:
        command += ["--direct_running_mode=multi_processing", f"--direct_num_workers={args.processes}"]
    seconds, cpu = timed(command, env)
    stats = json.loads((output / "caption" / "stats.json").read_text())
    download_drops = sum(n for reason, n in stats["drops"].items() if reason.startswith("download/"))
    pairs = json.loads((output / "parallel-mt" / "index.json").read_text())["totals"]["samples"]
    return {
        "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "samples": stats["outputs"],
        "download_drops": download_drops, "mt_pairs": pairs,
        "digest": folder_digest(output / "caption")[:16] + folder_digest(output / "parallel-mt")[:16],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--captions", type=int, default=400)
    parser.add_argument("--missing", type=float, default=0.2, help="share of image URLs that point at no file")
    parser.add_argument("--image-size", type=int, default=48, help="resize target (the images are rendered at 1.5 times it)")
    parser.add_argument("--processes", type=int, default=1, help="more than 1: the multi-processing DirectRunner")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-bin", default=None, help="the bin folder of another checkout's venv")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-caption-path-")).resolve()
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    captions = write_inputs(workdir / "site", args.captions, args.missing, args.image_size * 3 // 2)
    sides = [("this", BIN)] + ([("baseline", Path(args.baseline_bin))] if args.baseline_bin else [])
    rounds = []
    for number in range(args.rounds):
        order = sides if number % 2 == 0 else sides[::-1]
        result = {name: build(bin_dir, captions, workdir, name, args, env) for name, bin_dir in order}
        rounds.append(result)
        print(json.dumps({"round": number + 1, **result}), flush=True)
    summary = {
        "captions": args.captions, "missing": args.missing, "image_size": args.image_size, "processes": args.processes,
        "load_average": os.getloadavg()[0],
        # this checkout translates every caption before its download: each drop cost one per target
        "translations_spent_on_download_drops": rounds[0]["this"]["download_drops"] * len(TARGETS),
    }
    for name, _ in sides:
        summary[name] = {
            "median_seconds": statistics.median(r[name]["seconds"] for r in rounds),
            "median_cpu_seconds": statistics.median(r[name]["cpu_seconds"] for r in rounds),
        }
    if args.baseline_bin:
        summary["identical_shards"] = all(r["this"]["digest"] == r["baseline"]["digest"] for r in rounds)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
