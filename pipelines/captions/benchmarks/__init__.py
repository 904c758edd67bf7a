"""The papers' retrieval benchmarks read from their own released files.

One reader per benchmark (``multi30k``, ``karpathy``, ``xtd10``, ``cococn``, ``iglue``)
turns a local copy of the release into :class:`EvalItem` s; :mod:`registry` names them and
selects a split and a 1K fold; :mod:`prepare` writes an evaluation set as a caption shard
folder. Plain functions, no Beam. docs/benchmarks-data.md lists the files to download.
"""
from babelshard.pipelines.captions.benchmarks.files import BenchmarkError, EvalItem
from babelshard.pipelines.captions.benchmarks.prepare import prepare_benchmark
from babelshard.pipelines.captions.benchmarks.registry import BENCHMARKS, FOLD_SIZE, Benchmark, get_benchmark, read_benchmark

__all__ = [
    "BENCHMARKS",
    "FOLD_SIZE",
    "Benchmark",
    "BenchmarkError",
    "EvalItem",
    "get_benchmark",
    "prepare_benchmark",
    "read_benchmark",
]
