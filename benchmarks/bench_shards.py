"""Shard-writer throughput as a ratio to a plain sequential write of the same bytes.

Both sides write to the same disk in the same process, alternating, and both fsync
each file: the ratio isolates what tar encoding, sorting, hashing and atomic rename cost.
Each side's best of ``--repeats`` runs is compared (as ``timeit`` does), and so is the
median of the ratios of the runs paired in time (writer, then plain write, seconds apart),
which moves less when the load of a shared machine changes between runs.

    .venv/bin/python benchmarks/bench_shards.py --samples 2000 --image-kib 100
    .venv/bin/python benchmarks/bench_shards.py --busy 1   # with a busy-looping process beside it
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.shards.writer import write_records


def make_records(count: int, image_kib: int) -> list[CaptionSample]:
    payload = os.urandom(image_kib * 1024)
    return [
        CaptionSample(
            key=stable_key("bench", str(i)), source="bench", url=f"http://x/{i}.jpg",
            captions={"en": Caption(f"caption number {i}"), "de": Caption(f"Bildunterschrift {i}", provenance="mt")},
            image=payload[i % 64:] + payload[: i % 64], image_format="jpg",
        )
        for i in range(count)
    ]


def plain_write(folder: str, blobs: list[bytes], hashed: bool = False) -> None:
    """The baseline; with ``hashed`` it also takes each file's sha256, as an index needs."""
    os.makedirs(folder, exist_ok=True)
    for number, blob in enumerate(blobs):
        if hashed:
            hashlib.sha256(blob).hexdigest()
        with open(os.path.join(folder, f"plain-{number:06d}.bin"), "wb") as handle:
            for start in range(0, len(blob), 1 << 20):
                handle.write(blob[start : start + (1 << 20)])
            handle.flush()
            os.fsync(handle.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--image-kib", type=int, default=100)
    parser.add_argument("--samples-per-shard", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir on the working disk)")
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes that run meanwhile")
    args = parser.parse_args()
    records = make_records(args.samples, args.image_kib)
    root = tempfile.mkdtemp(dir=args.dir or ".", prefix=".bench-shards-")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    writer_times, plain_times, writer_cpu, plain_cpu, hashed_times, writer_main_cpu = [], [], [], [], [], []
    try:
        for repeat in range(args.repeats):
            folder = os.path.join(root, f"shards-{repeat}")
            start, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
            index = write_records(folder, "caption", records, max_samples=args.samples_per_shard)
            writer_seconds = time.perf_counter() - start
            writer_cpu.append(time.process_time() - cpu)
            writer_main_cpu.append(time.thread_time() - main_cpu)
            blobs = [open(os.path.join(folder, s.name), "rb").read() for s in index.shards]
            start, cpu = time.perf_counter(), time.process_time()
            plain_write(os.path.join(root, f"plain-{repeat}"), blobs)
            plain_seconds = time.perf_counter() - start
            plain_cpu.append(time.process_time() - cpu)
            shutil.rmtree(os.path.join(root, f"plain-{repeat}"))
            start = time.perf_counter()
            plain_write(os.path.join(root, f"plain-{repeat}"), blobs, hashed=True)
            hashed_times.append(time.perf_counter() - start)
            writer_times.append(writer_seconds)
            plain_times.append(plain_seconds)
            shutil.rmtree(folder)
            shutil.rmtree(os.path.join(root, f"plain-{repeat}"))
    finally:
        for process in busy:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
    print(f"samples={args.samples} image={args.image_kib} KiB shards={len(index.shards)} bytes={index.bytes:,} "
          f"busy processes={args.busy} cpus={os.cpu_count()}")
    megabytes = index.bytes / 1e6
    best_writer, best_plain = min(writer_times), min(plain_times)
    print(f"shard writer: {megabytes / best_writer:.0f} MB/s (median {megabytes / statistics.median(writer_times):.0f}); "
          f"plain write: {megabytes / best_plain:.0f} MB/s (median {megabytes / statistics.median(plain_times):.0f})")
    paired = statistics.median(plain / writer for plain, writer in zip(plain_times, writer_times))
    print(f"ratio (writer / plain throughput), best of {args.repeats}: {best_plain / best_writer:.2f}, "
          f"median of paired runs: {paired:.2f}  (goal >= 0.8); load average {os.getloadavg()[0]:.1f}")
    print(f"plain write + sha256 of each file: {megabytes / min(hashed_times):.0f} MB/s; "
          f"ratio writer / (plain write + sha256): {min(hashed_times) / best_writer:.2f}")
    print(f"CPU seconds (best): writer {min(writer_cpu):.3f} (hashing included; {min(writer_main_cpu):.3f} on the "
          f"calling thread), plain {min(plain_cpu):.3f}; CPU ratio plain/writer {min(plain_cpu) / min(writer_cpu):.2f}")


if __name__ == "__main__":
    main()
