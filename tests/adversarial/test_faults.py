"""The fault suite for builds and publishes: ``kill -9`` at several points, then a
rerun that ends byte-identical to an uninterrupted run; a second run on a folder in
use is refused with one line; a lock left by a killed run is taken over only when no
process of that run (the multi-processing runner's workers included) is alive."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from babelshard.shards.index import ShardIndexError, read_index
from babelshard.shards.writer import write_records
from babelshard.testing import caption_records

WAIT_LIMIT = 180.0  # seconds a test waits for a marker before it gives up (never reached when healthy)


def snapshot(folder: str) -> dict[str, bytes]:
    """Every file of a folder tree, by relative path (the lock file aside)."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            if name != ".babelshard.lock":
                files[os.path.relpath(path, folder)] = open(path, "rb").read()
    return dict(sorted(files.items()))


def wait_for(condition, process: subprocess.Popen, what: str) -> None:
    stop = time.monotonic() + WAIT_LIMIT
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before {what}: {process.stderr.read()[-3000:]}")
        if time.monotonic() > stop:
            process.kill()
            pytest.fail(f"never saw {what}")
        time.sleep(0.02)


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# ---- builds ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def captions_tsv(tmp_path_factory, hostile_server) -> str:
    """One caption file for every build here (its path is part of the config hash)."""
    tsv = tmp_path_factory.mktemp("captions") / "captions.tsv"
    rows = "".join(f"picture number {i}\t{hostile_server.url}/gated/{i}.png\n" for i in range(60))
    tsv.write_text(rows + "bad line\n", encoding="utf-8")
    return str(tsv)


def write_job(tmp_path, name: str, tsv: str, timeout: float = 5) -> str:
    config = {
        "name": "faults",
        "output": {"folder": str(tmp_path / name), "samples_per_shard": 8},
        "captions": {
            "sources": [{"name": "f", "format": "tsv", "path": str(tsv), "columns": ["caption", "url"]}],
            "download": {"thread_count": 2, "allow_loopback": True, "per_host_rate": 0, "timeout": timeout, "deadline": max(60.0, timeout), "image": {"image_size": 32}},
        },
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def start_build(config: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "babelshard.cli", "build", config], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def names_in(folder: str) -> list[str]:
    return os.listdir(folder) if os.path.isdir(folder) else []


BUILD_KILL_POINTS = {  # (close the image server's gate first?, the condition to kill at)
    "locked, nothing written": (False, lambda folder, server: ".babelshard.lock" in names_in(os.path.dirname(folder))),
    "a shard's downloads in flight": (True, lambda folder, server: server.waiting > 0),
    "three shards complete": (False, lambda folder, server: sum(n.endswith(".stats.json") for n in names_in(folder)) >= 3),
}


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory, captions_tsv):
    tmp_path = tmp_path_factory.mktemp("clean-build")
    result = subprocess.run([sys.executable, "-m", "babelshard.cli", "build", write_job(tmp_path, "out", captions_tsv)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return snapshot(str(tmp_path / "out"))


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(BUILD_KILL_POINTS))
def test_a_build_killed_then_rerun_ends_byte_identical(tmp_path, hostile_server, captions_tsv, clean_build, point):
    config = write_job(tmp_path, "out", captions_tsv)
    caption = str(tmp_path / "out" / "caption")
    hold, condition = BUILD_KILL_POINTS[point]
    with hostile_server.lock:
        hostile_server.waiting = 0
    if hold:
        hostile_server.gate.clear()
    try:
        process = start_build(config)
        wait_for(lambda: condition(caption, hostile_server), process, point)
        kill_group(process)
    finally:
        hostile_server.gate.set()
    with pytest.raises(ShardIndexError):
        read_index(caption)  # killed: nothing looks finished
    rerun = subprocess.run([sys.executable, "-m", "babelshard.cli", "build", config], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert snapshot(str(tmp_path / "out")) == clean_build
    assert not os.path.exists(tmp_path / "out" / ".babelshard.lock")


@pytest.mark.slow
def test_a_second_build_on_a_folder_in_use_is_refused(tmp_path, hostile_server):
    tsv = tmp_path / "gated.tsv"
    tsv.write_text("".join(f"picture {i}\t{hostile_server.url}/gated/{i}.png\n" for i in range(12)), encoding="utf-8")
    config = write_job(tmp_path, "out", str(tsv), timeout=400)
    hostile_server.gate.clear()  # the first run's downloads wait until the second has been refused
    first = start_build(config)
    try:
        wait_for(lambda: ".babelshard.lock" in names_in(str(tmp_path / "out")), first, "the lock")
        second = subprocess.run([sys.executable, "-m", "babelshard.cli", "build", config], capture_output=True, text=True, timeout=300)
    finally:
        hostile_server.gate.set()
    assert second.returncode == 2, second.stderr[-3000:]
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is in use by another babelshard run (pid" in lines[0], second.stderr[-3000:]
    assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    assert read_index(str(tmp_path / "out" / "caption")).samples == 12  # the refused run took nothing from it
    assert not os.path.exists(tmp_path / "out" / ".babelshard.lock")


def test_a_lock_outlives_its_driver_while_a_worker_of_the_run_lives(tmp_path):
    """What a driver killed under the multi-processing runner leaves: a lock naming a dead
    pid, and a worker that inherited the run's token and may still write."""
    from babelshard.pipelines.jobs.lock import LOCK_NAME, TOKEN_VARIABLE, FolderLockedError, acquire, release

    folder = str(tmp_path / "out")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env={**os.environ, TOKEN_VARIABLE: "t0ken"})
    try:
        os.makedirs(folder)
        lock = {"pid": int(dead.stdout), "host": os.uname().nodename, "started": "then", "token": "t0ken"}
        (tmp_path / "out" / LOCK_NAME).write_text(json.dumps(lock), encoding="utf-8")
        with pytest.raises(FolderLockedError, match=f"pid {lock['pid']} on"):
            acquire(folder)
    finally:
        worker.kill()
        worker.wait()
    taken = acquire(folder)  # now stale: nothing of that run is alive
    assert json.loads((tmp_path / "out" / LOCK_NAME).read_text())["token"] == taken["token"] != "t0ken"
    release(folder, taken)
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_a_run_that_takes_the_lock_removes_a_killed_runs_partial_files(tmp_path):
    from babelshard.pipelines.jobs.lock import locked_folder

    caption = tmp_path / "out" / "caption"
    caption.mkdir(parents=True)
    leftovers = [".shard-000001.tar.partial", ".shard-000001.stats.json.partial-4242", ".index.json.partial-17"]
    kept = ["shard-000000.tar", "shard-000000.stats.json", ".hidden-but-not-partial"]
    for name in leftovers + kept:
        (caption / name).write_bytes(b"x")
    with locked_folder(str(tmp_path / "out")):
        assert sorted(os.listdir(caption)) == sorted(kept)


# ---- publishes ------------------------------------------------------------------

PUBLISH_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from babelshard.fs import partial_name
    from babelshard.shards import publish

    real_put, real_rm, real_replace = publish._put, None, os.replace

    printing = threading.Lock()

    def announce(*words):
        # Uploads run on several threads: one whole line at a time, so a marker is never split.
        with printing:
            print(*words, flush=True)

    def put_then_pause(fs, path, data):
        # The real upload, announced, then a pause so that a kill lands between files.
        real_put(fs, path, data)
        announce("put", os.path.basename(path))
        time.sleep(0.2)

    def replace_after_a_pause(source, target):
        # A pause with the file complete under its hidden temporary name, not yet moved.
        if os.path.basename(source).startswith("."):
            announce("moving", os.path.basename(target))
            time.sleep(0.2)
        real_replace(source, target)

    publish._put = put_then_pause
    os.replace = replace_after_a_pause
    publish.publish_folder(sys.argv[1], sys.argv[2])
    print("done", flush=True)
    """
)


def start_publish(source: str, destination: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PUBLISH_SCRIPT, source, destination], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


PUBLISH_KILL_POINTS = {  # the announcement after which the kill lands
    "first shard, before its move": "moving shard-000000.tar",
    "after two shards": "put shard-000001.tar",
    "all shards, before the stats": "put shard-000006.tar",
    "before the index": "moving index.json",
}


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(PUBLISH_KILL_POINTS))
def test_a_republish_killed_then_rerun_ends_byte_identical(tmp_path, point):
    from babelshard.shards.publish import publish_folder

    v1, v2 = str(tmp_path / "v1"), str(tmp_path / "v2")
    write_records(v1, "caption", caption_records(30), max_samples=4)
    write_records(v2, "caption", caption_records(20)[::-1], max_samples=3)
    destination, clean = str(tmp_path / "published"), str(tmp_path / "clean")
    publish_folder(v1, destination)
    publish_folder(v2, clean)
    process = start_publish(v2, destination)
    marker = PUBLISH_KILL_POINTS[point]
    seen = []
    for line in process.stdout:
        seen.append(line.strip())
        if line.strip() == marker:
            break
    assert marker in seen, (seen, process.stderr.read()[-3000:])
    kill_group(process)
    with pytest.raises(ShardIndexError):
        read_index(destination)  # neither v1's index beside v2's shards nor v2's before its shards
    publish_folder(v2, destination)
    assert snapshot(destination) == snapshot(clean)
