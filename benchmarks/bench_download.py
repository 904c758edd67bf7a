"""Images/s through babelshard's Beam download vs img2dataset standalone, same run.

Both download the same URL list from the same loopback server (a separate process
serving files from memory: OpenMoji renders as JPEG, or with ``--inputs photos``
synthetic photos of 320-2048 px), resize with the same settings (babelshard with its
default resizer, or img2dataset's ``Resizer`` with ``--resizer img2dataset``), with the
same number of processes and threads:
img2dataset with its multiprocessing distributor, babelshard with Beam's
DirectRunner in multi_processing mode. Each tool runs as its own command, so the
wall time covers start-up, imports and writing shards, end to end. Rounds alternate
the order; the result is the ratio of images/s within each round.

    .venv/bin/python benchmarks/bench_download.py --images 6000 --processes 2 --threads 16 --rounds 2
    .venv/bin/python benchmarks/bench_download.py --images 2000 --inputs photos
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from timed_run import timed_run

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def prepare_images(folder: Path, count: int, size: int) -> list[str]:
    """Up to ``count`` distinct emoji as JPEG photos-sized files (CC3M serves JPEGs);
    URLs repeat them with a query when more are asked for."""
    import io

    from PIL import Image

    from babelshard.pipelines.demo.openmoji import pick_emoji, render_png

    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = []
    for item in pick_emoji(count, ["en"]):
        name = f"images/{item.hexcode}-{size}.jpg"
        if not (folder / name).exists():  # kept between runs in the same --workdir
            with Image.open(io.BytesIO(render_png(item.hexcode, size))) as image:
                image.convert("RGB").save(folder / name, format="JPEG", quality=90)
        names.append(name)
    return names


def prepare_photos(folder: Path, count: int) -> list[str]:
    """``count`` synthetic photos (JPEG quality 88) with bench_images.py's sides and aspect ratios."""
    from bench_images import PHOTO_ASPECTS, PHOTO_SIDES

    from babelshard.testing import encode_image, synthetic_photo

    (folder / "photos").mkdir(parents=True, exist_ok=True)
    names = []
    for number in range(count):
        side, aspect = PHOTO_SIDES[number % len(PHOTO_SIDES)], PHOTO_ASPECTS[number % len(PHOTO_ASPECTS)]
        width, height = (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
        name = f"photos/photo-{number}-{width}x{height}.jpg"
        if not (folder / name).exists():  # kept between runs in the same --workdir
            (folder / name).write_bytes(encode_image(synthetic_photo(width, height, number), "JPEG", quality=88))
        names.append(name)
    return names


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "babelshard.pipelines.demo.httpserver", str(folder)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    return server, server.stdout.readline().strip()


def write_url_list(path: Path, base_url: str, files: list[str], count: int, caption: str = "emoji picture") -> None:
    """``count`` distinct URLs (a ``?n=`` query) cycling through ``files`` on the server."""
    lines = ["url\tcaption"]
    for number in range(count):
        name = files[number % len(files)]
        lines.append(f"{base_url}/{name}?n={number}\t{caption} number {number}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_img2dataset(urls: Path, output: Path, args, env: dict) -> tuple[float, float, int]:
    shutil.rmtree(output, ignore_errors=True)
    per_shard = max(1, args.images // (4 * args.processes))
    command = [
        str(BIN / "img2dataset"), f"--url_list={urls}", "--input_format=tsv", "--url_col=url", "--caption_col=caption",
        "--output_format=webdataset", f"--output_folder={output}", f"--processes_count={args.processes}",
        f"--thread_count={args.threads}", f"--image_size={args.image_size}", "--resize_mode=border",
        "--encode_format=jpg", "--encode_quality=95", f"--number_sample_per_shard={per_shard}",
        "--extract_exif=False", "--distributor=multiprocessing", "--retries=0", "--timeout=10",
    ]
    seconds, cpu = timed_run(command, env)
    successes = sum(json.loads(p.read_text())["successes"] for p in output.glob("*_stats.json"))
    return seconds, cpu, successes


def babelshard_config(urls: Path, output: Path, args) -> dict:
    return {
        "name": "bench-download",
        "output": {"folder": str(output), "samples_per_shard": max(1, args.images // (4 * args.processes))},
        "captions": {
            "sources": [{"name": "bench", "format": "tsv", "path": str(urls), "columns": ["url", "caption"], "header": True}],
            "download": {
                "thread_count": args.threads, "timeout": 10, "retries": 0, "allow_loopback": True,
                "per_host_concurrency": args.threads, "per_host_rate": 0,
                "image": {"image_size": args.image_size, "resize_mode": "border", "encode_format": "jpg",
                          "encode_quality": 95, "resizer": args.resizer},
            },
        },
    }


def run_babelshard(urls: Path, output: Path, workdir: Path, args, env: dict) -> tuple[float, float, int]:
    shutil.rmtree(output, ignore_errors=True)
    config = workdir / "bench.yaml"
    config.write_text(yaml.safe_dump(babelshard_config(urls, output, args)), encoding="utf-8")
    command = [
        str(BIN / "babelshard"), "build", str(config),
        "--direct_running_mode=multi_processing", f"--direct_num_workers={args.processes}",
    ]
    seconds, cpu = timed_run(command, env)
    index = json.loads((output / "caption" / "index.json").read_text())
    return seconds, cpu, index["totals"]["samples"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=256, help="resize target (border mode)")
    parser.add_argument("--source-size", type=int, default=384, help="size the served emoji are rendered at")
    parser.add_argument("--inputs", choices=["emoji", "photos"], default="emoji",
                        help="what the server serves: emoji renders (JPEG) or synthetic photos")
    parser.add_argument("--photos", type=int, default=200, help="distinct photos with --inputs photos")
    parser.add_argument("--resizer", choices=["babelshard", "img2dataset"], default="babelshard",
                        help="babelshard's resizer (image.resizer); img2dataset always uses its own")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-download-"))
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    if args.inputs == "photos":
        files = prepare_photos(workdir / "site", min(args.images, args.photos))
    else:
        files = prepare_images(workdir / "site", min(args.images, 4000), args.source_size)
    server, base_url = start_server(workdir / "site")
    rounds = []
    try:
        write_url_list(workdir / "urls.tsv", base_url, files, args.images)
        for number in range(args.rounds):
            runners = [("img2dataset", run_img2dataset), ("babelshard", run_babelshard)]
            if number % 2:
                runners.reverse()
            result = {}
            for name, runner in runners:
                extra = (workdir,) if name == "babelshard" else ()
                seconds, cpu, images = runner(workdir / "urls.tsv", workdir / f"out-{name}", *extra, args, env)
                result[name] = {
                    "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "images": images,
                    "images_per_s": round(images / seconds, 1), "images_per_cpu_s": round(images / cpu, 1),
                }
            result["ratio"] = round(result["babelshard"]["images_per_s"] / result["img2dataset"]["images_per_s"], 3)
            result["cpu_ratio"] = round(
                result["babelshard"]["images_per_cpu_s"] / result["img2dataset"]["images_per_cpu_s"], 3
            )
            result["load_average"] = round(os.getloadavg()[0], 1)
            rounds.append(result)
            print(json.dumps({"round": number + 1, **result}), flush=True)
    finally:
        server.terminate()
        server.wait()
    summary = {
        "images": args.images, "inputs": args.inputs, "resizer": args.resizer, "image_size": args.image_size,
        "processes": args.processes, "threads": args.threads, "cpus": os.cpu_count(),
        "load_average": [round(load, 1) for load in os.getloadavg()],
        "rounds": rounds, "median_ratio": round(statistics.median(r["ratio"] for r in rounds), 3),
        "median_cpu_ratio": round(statistics.median(r["cpu_ratio"] for r in rounds), 3),
    }
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
