"""Images per CPU second: babelshard's resizer against img2dataset's ``Resizer``, same run.

Both resize the same encoded images with the same settings (``border`` mode, JPEG
quality 95, the default interpolations) through babelshard's ``process_image`` (the
header check, then the resizer), one image at a time in one thread, as a download
worker does; OpenCV runs single-threaded in both. A third contender is img2dataset's
``Resizer`` called alone, as img2dataset itself calls it (no header check). The figure is images per second of
this process's CPU time (user + system), measured per call, so the rate does not move
with other work on the machine; the two resizers alternate per round and each
reports its best round.

Inputs, cycled in a fixed shuffled order until ``--counts`` images:

- ``emoji-png``: OpenMoji renders as the demo serves them (PNG, RGBA, 384 px);
- ``emoji-jpg``: the same renders as JPEG quality 90 (what ``bench_download.py`` serves);
- ``photo-jpg``: synthetic photos (``babelshard.testing.synthetic_photo``), JPEG quality
  88, long side 320-2048 px at 4:3, 3:2, 1:1, 2:3 and 16:9.

With ``--server`` it also runs the download path (fetch over HTTP from a loopback server
in its own process, sha256, check, resize) for both resizers through
``Downloads`` with ``--threads`` fetch threads, on the largest count; its CPU time is
this process's (fetch threads included), so the server's own work is not counted.

With ``--stages`` it prints instead where babelshard's resizer spends its CPU time, per
input group and stage (header check, decode, alpha, resize and pad, encode), at each size,
and the decode by OpenCV alone for comparison.

    .venv/bin/python benchmarks/bench_images.py --sizes 64 256 --counts 500 2000 --server
    .venv/bin/python benchmarks/bench_images.py --sizes 256 --stages
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from babelshard.pipelines.captions.config import DownloadConfig, ResizeConfig  # noqa: E402
from babelshard.pipelines.captions.images import check_image, process_image  # noqa: E402
from babelshard.pipelines.captions.resize import (  # noqa: E402
    Resizer, decode, decode_with_opencv, flatten_alpha, make_resizer, to_uint8,
)

RESIZERS = ("babelshard", "img2dataset")
PHOTO_SIDES = (320, 480, 640, 800, 1024, 1280, 1600, 2048)
PHOTO_ASPECTS = (4 / 3, 3 / 2, 1.0, 2 / 3, 16 / 9)
MAX_PIXELS = 64_000_000


def make_inputs(distinct: int, seed: int = 0) -> list[tuple[str, str, bytes]]:
    """(group, file name, bytes): ``distinct`` images, a third of each group."""
    from PIL import Image

    from babelshard.pipelines.demo.openmoji import pick_emoji, render_png
    from babelshard.testing import encode_image, synthetic_photo

    per_group = max(1, distinct // 3)
    inputs = []
    for item in pick_emoji(per_group, ["en"]):
        png = render_png(item.hexcode, 384)
        inputs.append(("emoji-png", f"{item.hexcode}.png", png))
        rgb = Image.open(io.BytesIO(png)).convert("RGB")
        inputs.append(("emoji-jpg", f"{item.hexcode}.jpg", encode_image(rgb, "JPEG", quality=90)))
    for number in range(per_group):
        side, aspect = PHOTO_SIDES[number % len(PHOTO_SIDES)], PHOTO_ASPECTS[number % len(PHOTO_ASPECTS)]
        width, height = (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
        photo = synthetic_photo(width, height, seed + number)
        inputs.append(("photo-jpg", f"photo-{number}.jpg", encode_image(photo, "JPEG", quality=88)))
    return inputs


def workload(inputs: list, count: int, seed: int = 0) -> list:
    order = [inputs[number % len(inputs)] for number in range(count)]
    random.Random(seed).shuffle(order)
    return order


def image_settings(resizer: str, size: int) -> ResizeConfig:
    return ResizeConfig(resizer=resizer, image_size=size, resize_mode="border", encode_format="jpg", encode_quality=95)


def time_resizer(resize, work: list) -> tuple[float, dict[str, float]]:
    """Total CPU seconds and CPU seconds per input group of ``resize(data)`` over ``work``."""
    per_group: dict[str, float] = defaultdict(float)
    clock = time.process_time
    for group, _, data in work:
        started = clock()
        resize(data)
        per_group[group] += clock() - started
    return sum(per_group.values()), dict(per_group)


def contenders(size: int) -> dict:
    """babelshard's path with each resizer (header check, then resize), and img2dataset's
    ``Resizer`` called alone as img2dataset calls it (no header check)."""
    ours, theirs = (make_resizer(image_settings(name, size)) for name in RESIZERS)
    return {
        "babelshard": lambda data: process_image(data, MAX_PIXELS, ours),
        "img2dataset": lambda data: process_image(data, MAX_PIXELS, theirs),
        "img2dataset-alone": lambda data: theirs.resizer(io.BytesIO(data)),
    }


def compare_resizers(inputs: list, size: int, count: int, rounds: int) -> dict:
    work = workload(inputs, count)
    counts = defaultdict(int)
    for group, _, _ in work:
        counts[group] += 1
    resizers = contenders(size)
    names = list(resizers)
    best: dict[str, tuple[float, dict]] = {}
    for round_number in range(rounds):
        for name in (names if round_number % 2 == 0 else names[::-1]):
            total, groups = time_resizer(resizers[name], work)
            if name not in best or total < best[name][0]:
                best[name] = (total, groups)
    row = {"size": size, "images": count, "load_average": round(os.getloadavg()[0], 2)}
    for name in names:
        total, groups = best[name]
        row[name] = {"cpu_s": round(total, 3), "images_per_cpu_s": round(count / total, 1)}
        row[name].update({group: round(counts[group] / seconds, 1) for group, seconds in sorted(groups.items())})
    ours = best["babelshard"]
    for name in names[1:]:
        row[f"ratio_vs_{name}"] = round(best[name][0] / ours[0], 2)
        row[f"ratio_by_group_vs_{name}"] = {group: round(best[name][1][group] / ours[1][group], 2) for group in sorted(counts)}
    return row


def time_downloads(settings: DownloadConfig, records: list) -> tuple[int, float, float]:
    """Images that came through, CPU seconds and wall seconds for one pass over ``records``."""
    from babelshard.pipelines.captions.download import Downloads
    from babelshard.records import CaptionSample

    downloads = Downloads(settings)
    started_cpu, started = time.process_time(), time.perf_counter()
    done = [result for record in records for result in downloads.submit(record)]
    done += list(downloads.drain())
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    downloads.close()
    return sum(1 for result in done if isinstance(result, CaptionSample)), cpu, wall


def download_path(inputs: list, size: int, count: int, threads: int, rounds: int) -> dict:
    """Fetch + sha256 + check + resize through ``Downloads`` from a loopback server."""
    from babelshard.records import Caption, CaptionSample, stable_key

    with tempfile.TemporaryDirectory(prefix="bench-images-") as folder:
        for _, name, data in inputs:
            Path(folder, name).write_bytes(data)
        server = subprocess.Popen(
            [sys.executable, "-m", "babelshard.pipelines.demo.httpserver", folder], stdout=subprocess.PIPE, text=True
        )
        try:
            base = server.stdout.readline().strip()
            records = [
                CaptionSample(key=stable_key("bench", str(n)), source="bench", url=f"{base}/{name}?n={n}",
                              captions={"en": Caption("a picture")})
                for n, (_, name, _) in enumerate(workload(inputs, count))
            ]
            settings = {
                name: DownloadConfig(
                    thread_count=threads, allow_loopback=True, per_host_concurrency=threads, per_host_rate=0,
                    retries=0, image=image_settings(name, size),
                )
                for name in RESIZERS
            }
            best: dict[str, tuple[int, float, float]] = {}
            for round_number in range(rounds):
                for name in (RESIZERS if round_number % 2 == 0 else RESIZERS[::-1]):
                    result = time_downloads(settings[name], records)
                    if name not in best or result[1] < best[name][1]:
                        best[name] = result
        finally:
            server.terminate()
            server.wait()
    row = {"size": size, "images": count, "threads": threads, "load_average": round(os.getloadavg()[0], 2)}
    for name, (ok, cpu, wall) in best.items():
        row[name] = {"ok": ok, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                     "images_per_cpu_s": round(ok / cpu, 1), "images_per_s": round(ok / wall, 1)}
    row["ratio"] = round(row["babelshard"]["images_per_cpu_s"] / row["img2dataset"]["images_per_cpu_s"], 2)
    return row


def stage_times(inputs: list, size: int, rounds: int) -> dict:
    """CPU milliseconds per image of each stage of babelshard's resizer, by input group
    (each group's best of ``rounds`` passes over its distinct images)."""
    resizer = Resizer(image_settings("babelshard", size))
    groups: dict[str, list[bytes]] = defaultdict(list)
    for group, _, data in inputs:
        groups[group].append(data)
    row: dict = {"stages": size, "load_average": round(os.getloadavg()[0], 2)}
    for group, images in groups.items():
        passes = [one_pass_by_stage(resizer, images) for _ in range(rounds)]
        best = min(passes, key=lambda spent: sum(spent.values()))
        row[group] = {stage: round(seconds / len(images) * 1000, 3) for stage, seconds in best.items()}
        row[group]["total"] = round(sum(best.values()) / len(images) * 1000, 3)
        opencv = min(opencv_decode_seconds(resizer, images) for _ in range(rounds))
        row[group]["decode_by_opencv"] = round(opencv / len(images) * 1000, 3)
    return row


def one_pass_by_stage(resizer: Resizer, images: list[bytes]) -> dict[str, float]:
    """The steps of ``Resizer.__call__`` one by one (``skip_reencode`` off), CPU seconds each."""
    spent = dict.fromkeys(("check", "decode", "alpha", "resize", "encode"), 0.0)
    for data in images:
        started = time.process_time()
        header = check_image(data, MAX_PIXELS)
        target = resizer.target_size(header.width, header.height)
        checked = time.process_time()
        pixels = decode(data, header, resizer.jpeg_reduction(header, target))
        decoded = time.process_time()
        has_alpha = pixels.ndim == 3 and pixels.shape[2] == 4
        pixels = to_uint8(pixels)
        pixels = flatten_alpha(pixels) if has_alpha else pixels
        matted = time.process_time()
        pixels = resizer.fit(pixels, target) if target is not None else pixels
        fitted = time.process_time()
        resizer.encode(pixels)
        encoded = time.process_time()
        for stage, seconds in zip(spent, (checked - started, decoded - checked, matted - decoded, fitted - matted, encoded - fitted)):
            spent[stage] += seconds
    return spent


def opencv_decode_seconds(resizer: Resizer, images: list[bytes]) -> float:
    """CPU seconds to decode ``images`` with OpenCV alone, at the resizer's scale."""
    headers = [check_image(data, MAX_PIXELS) for data in images]
    reductions = [resizer.jpeg_reduction(header, resizer.target_size(header.width, header.height)) for header in headers]
    started = time.process_time()
    for data, header, reduction in zip(images, headers, reductions):
        decode_with_opencv(data, header, reduction)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="output sizes (border mode)")
    parser.add_argument("--counts", type=int, nargs="+", default=[500, 2000], help="images per measurement")
    parser.add_argument("--distinct", type=int, default=120, help="distinct input images (a third per group)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; each resizer's best counts")
    parser.add_argument("--server", action="store_true", help="also time the download path via a loopback server")
    parser.add_argument("--threads", type=int, default=8, help="fetch threads for --server")
    parser.add_argument("--stages", action="store_true", help="only babelshard's CPU time per stage, by input group")
    args = parser.parse_args(argv)
    inputs = make_inputs(args.distinct)
    if args.stages:
        rows = [stage_times(inputs, size, max(args.rounds, 3)) for size in args.sizes]
        for row in rows:
            print(json.dumps(row), flush=True)
        return rows
    rows = []
    for size in args.sizes:
        for count in args.counts:
            rows.append(compare_resizers(inputs, size, count, args.rounds))
            print(json.dumps(rows[-1]), flush=True)
        if args.server:
            rows.append({"path": "download", **download_path(inputs, size, max(args.counts), args.threads, args.rounds)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main()
