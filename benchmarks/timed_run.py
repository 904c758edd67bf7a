"""Running one command of a benchmark and measuring it, for the scripts that time whole
commands (``bench_caption_path.py``, ``bench_download.py``).

Scripts import it by name: ``python benchmarks/bench_*.py`` puts this folder on ``sys.path``.
"""
from __future__ import annotations

import resource
import subprocess
import time


def timed_run(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the command and its children);
    a command that fails raises with the end of its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
