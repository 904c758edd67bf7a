"""A worker process killed with SIGKILL in the middle of a portable job: the shards it
committed are whole, no index claims the folder finished, and the job's rerun ends with
the DirectRunner's bytes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from babelshard.fs import join
from babelshard.testing import PortableServices, folder_digests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SLOW_REQUEST_S = 0.2  # per image while the killed run downloads, so that the kill lands mid-job


def build_command(config: str, flags: list[str]) -> list[str]:
    return [sys.executable, "-m", "babelshard.cli", "build", config, *flags]


def wait_for_a_committed_shard(folder: str, launcher: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and launcher.poll() is None:
        names = os.listdir(folder) if os.path.isdir(folder) else []
        if any(name.startswith("shard-") and name.endswith(".stats.json") for name in names):
            return
        time.sleep(0.05)
    pytest.fail(f"no shard was committed before the launcher exited ({launcher.poll()}) or {timeout:.0f} s passed")


def end_the_killed_job(services: PortableServices, launcher: subprocess.Popen) -> int:
    """The launcher's exit code. Beam's Python job service fails the job when the dead
    worker's data channel closes, but waits forever on a worker that dies while the runner
    waits for its control channel (Dataflow, Flink and Spark retry the bundle): a job
    still running a few seconds after the kill is cancelled."""
    try:
        return launcher.wait(timeout=10)
    except subprocess.TimeoutExpired:
        services.cancel_running_jobs()
        return launcher.wait(timeout=60)


def test_worker_killed_mid_job_then_the_rerun_gives_the_directrunner_bytes(
    tmp_path, portable, direct_build, job_configs, image_site
):
    config = tmp_path / "caption.yaml"
    config.write_text(yaml.safe_dump(job_configs.caption(str(tmp_path / "out")).model_dump(mode="json")))
    folder = join(str(tmp_path / "out"), "caption")
    services = PortableServices(str(tmp_path / "services")).start()
    launcher = None
    try:
        image_site.slow_down(SLOW_REQUEST_S)
        with open(tmp_path / "killed-run.log", "wb") as log:
            launcher = subprocess.Popen(build_command(str(config), services.runner_flags()), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_a_committed_shard(folder, launcher)
        workers = services.worker_pids()
        assert workers, "the pool runs no SDK worker process"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        image_site.slow_down(0.0)
        assert not os.path.exists(join(folder, "index.json")), "the job finished before the kill"
        code = end_the_killed_job(services, launcher)
    finally:
        image_site.slow_down(0.0)
        if launcher is not None and launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        services.stop()
    names = os.listdir(folder)
    for name in names:  # every visible shard is whole: its stats, written after it, exist
        assert not name.endswith(".tar") or name.replace(".tar", ".stats.json") in names
    if code != 0:
        assert "index.json" not in names
        rerun = subprocess.run(build_command(str(config), portable.runner_flags()), capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert folder_digests(folder) == folder_digests(join(direct_build, "caption"))
