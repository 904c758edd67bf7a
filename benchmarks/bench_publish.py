"""Publish throughput to S3 (moto's server over loopback HTTP, in its own process) as
a ratio to a plain sequential ``fs.put_file`` loop over the same files, in the same run.

The baseline uploads and checks nothing; ``publish`` reads and verifies every source
shard against the index, uploads ``--workers`` shards at a time, verifies each upload
from the store's checksum and writes the index last. The bytes read back during
verification are counted (the goal is none). Each side's best of ``--repeats`` runs
is compared, alternating, into fresh prefixes.

    .venv/bin/python benchmarks/bench_publish.py --shards 24 --shard-mib 4 --workers 1 8
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import fsspec

from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.shards.publish import publish_folder
from babelshard.shards.writer import write_records


def make_folder(folder: str, shards: int, shard_mib: int) -> None:
    per_shard, image = 4, os.urandom(shard_mib * 1024 * 1024 // 4)
    records = [
        CaptionSample(key=stable_key("bench", str(i)), source="bench", url=f"http://x/{i}.jpg",
                      captions={"en": Caption(f"caption {i}")}, image=image[i % 64:] + image[: i % 64],
                      image_format="jpg")
        for i in range(shards * per_shard)
    ]
    write_records(folder, "caption", records, max_samples=per_shard)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, endpoint
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("moto server did not start")


def put_loop(folder: str, fs, prefix: str) -> None:
    for name in sorted(os.listdir(folder)):
        fs.put_file(os.path.join(folder, name), f"{prefix}/{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=24)
    parser.add_argument("--shard-mib", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    server, endpoint = start_moto()
    try:
        fsspec.config.conf["s3"] = {"client_kwargs": {"endpoint_url": endpoint}}
        fs = fsspec.filesystem("s3")
        fs.mkdir("bench")
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "src")
            make_folder(source, args.shards, args.shard_mib)
            total = sum(os.path.getsize(os.path.join(source, n)) for n in os.listdir(source))
            baseline, ours, read_back = [], {w: [] for w in args.workers}, 0
            for run in range(args.repeats):
                started = time.perf_counter()
                put_loop(source, fs, f"bench/plain{run}")
                baseline.append(time.perf_counter() - started)
                for workers in args.workers:
                    started = time.perf_counter()
                    report = publish_folder(source, f"s3://bench/published{run}-{workers}", workers=workers)
                    ours[workers].append(time.perf_counter() - started)
                    read_back = max(read_back, report.bytes_read_back)
        plain = total / min(baseline)
        print(f"{args.shards} shards, {total:,} bytes, to moto S3 over loopback HTTP, best of {args.repeats}")
        print(f"sequential fs.put_file loop: {plain / 1e6:.1f} MB/s")
        for workers, seconds in ours.items():
            published = total / min(seconds)
            print(f"publish --workers {workers} (verified, index last): {published / 1e6:.1f} MB/s, "
                  f"ratio to the put loop {published / plain:.2f}")
        print(f"bytes read back to verify: {read_back:,}; verified by: {report.verified_by}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
