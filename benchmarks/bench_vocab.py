"""Rare-word clustering and alignment cost: time and peak memory on this machine.

Each case runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.
Vectors are synthetic but shaped like rare-word fastText vectors: unit-length 300-d
points around ``--topics`` directions (clusters to find), float32.

    .venv/bin/python benchmarks/bench_vocab.py kmeans --points 100000 1000000 --k 1000 --iterations 10
    .venv/bin/python benchmarks/bench_vocab.py align --words 200000 --pairs 5000

Add ``--backend faiss`` to time faiss-cpu instead of scikit-learn.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def rare_word_vectors(points: int, dim: int, topics: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    out = np.empty((points, dim), dtype=np.float32)
    for start in range(0, points, 100_000):  # blocks: no float64 temporaries of the whole set
        stop = min(points, start + 100_000)
        block = centres[rng.integers(0, topics, stop - start)] + 1.5 * rng.standard_normal((stop - start, dim), dtype=np.float32)
        out[start:stop] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def run_kmeans(points: int, dim: int, k: int, iterations: int, backend: str) -> dict:
    from babelshard.vocab.kmeans import kmeans

    data = rare_word_vectors(points, dim, topics=max(k // 2, 1))
    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = kmeans(data, k, iterations=iterations, seed=0, backend=backend)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    return {"case": "kmeans", "points": points, "dim": dim, "k": k, "iterations": iterations,
            "backend": result.backend, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
            "inertia": round(result.inertia, 1), "data_mib": round(data.nbytes / 2**20, 1)}


def cpu_seconds() -> float:
    """User + system time of this process, every thread (BLAS and OpenMP ones too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_align(words: int, dim: int, pairs: int, refine: int) -> dict:
    from babelshard.vocab.align import align
    from babelshard.vocab.config import AlignmentConfig
    from babelshard.vocab.vectors import WordVectors

    rng = np.random.default_rng(0)
    english = rare_word_vectors(words, dim, topics=2000, seed=1)
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    other = english @ rotation.T + 0.02 * rng.standard_normal(english.shape, dtype=np.float32)
    names = [f"w{i}" for i in range(words)]
    lexicon = [(f"x{i}", f"w{i}") for i in rng.choice(words, pairs, replace=False)]
    source = WordVectors("xx", [f"x{i}" for i in range(words)], other)
    target = WordVectors("en", names, english)
    config = AlignmentConfig(test_size=1500, refine_iterations=refine)
    start = time.perf_counter()
    result = align(source, target, lexicon, config)
    seconds = time.perf_counter() - start
    return {"case": "align", "words": words, "dim": dim, "pairs": pairs, "refine_iterations": refine,
            "seconds": round(seconds, 2), "precision_at_1_csls": result.precision_at_1_csls}


def child(args: argparse.Namespace) -> None:
    if args.case == "kmeans":
        report = run_kmeans(args.points[0], args.dim, args.k, args.iterations, args.backend)
    else:
        report = run_align(args.words, args.dim, args.pairs, args.refine)
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=["kmeans", "align"])
    parser.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--backend", choices=["sklearn", "faiss"], default="sklearn")
    parser.add_argument("--words", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--refine", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    sizes = args.points if args.case == "kmeans" else [args.words]
    for size in sizes:
        flag = ["--points", str(size)] if args.case == "kmeans" else ["--words", str(size)]
        command = [sys.executable, __file__, args.case, "--child", *flag, *_passed(args)]
        print(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip(), flush=True)


def _passed(args: argparse.Namespace) -> list[str]:
    return ["--dim", str(args.dim), "--k", str(args.k), "--iterations", str(args.iterations),
            "--backend", args.backend, "--pairs", str(args.pairs), "--refine", str(args.refine)]


if __name__ == "__main__":
    main()
