"""Checkpoint and resume: a run stopped (or killed) and resumed logs exactly the batches
and losses of an uninterrupted run, across epoch boundaries, with DataLoader workers,
gradient accumulation and dropout (torch RNG restored). ``kill -9`` lands at chosen
points (``killpoints.py``): mid-step, while a checkpoint is written, while the loader's
workers prefetch, and on a loader worker; no worker outlives its run, a torn checkpoint
is never picked, and the rerun ends with the uninterrupted run's weights."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from babelshard.train.loop.checkpoint import list_checkpoints
from babelshard.train.loop.steps import train
from babelshard.train.loop.metrics import read_metrics


def by_step(output: str) -> dict[int, dict]:
    """The last record logged for each step (a killed run may have logged steps twice)."""
    return {r["step"]: r for r in read_metrics(os.path.join(output, "metrics.jsonl"))}


def assert_same_steps(resumed: dict[int, dict], reference: dict[int, dict], steps: range) -> None:
    for step in steps:
        for field in ("batch_digest", "loss", "loss/itc", "lr", "grad_norm"):
            assert resumed[step][field] == reference[step][field], (step, field)
        # sample counts carry over; shards_read does not (a resumed worker reloads its open shards)
        samples = {k: v for k, v in resumed[step]["data"].items() if not k.endswith("shards_read")}
        assert samples == {k: v for k, v in reference[step]["data"].items() if not k.endswith("shards_read")}


@pytest.mark.parametrize(
    "workers,accum,optimizer,stop,end",
    [pytest.param(2, 1, "adamw", 7, 14, marks=pytest.mark.slow), (0, 2, "lamb", 3, 8)],
)
def test_stopped_and_resumed_run_matches_an_uninterrupted_one(preset, tiny_model, tmp_path, workers, accum, optimizer, stop, end):
    common = [*tiny_model, "loop.epochs=4", f"data.workers={workers}", f"optim.accum_steps={accum}", "model.text.dropout=0.1",
              f"optim.name={optimizer}", "optim.schedule=inverse_sqrt"]
    reference = str(tmp_path / "reference")
    train(preset("clip-en", reference, *common, f"loop.stop_at_step={end}"))
    resumed = str(tmp_path / "resumed")
    first = train(preset("clip-en", resumed, *common, f"loop.stop_at_step={stop}"))
    assert first.step == stop and [s for s, _ in list_checkpoints(resumed)] == [stop]
    second = train(preset("clip-en", resumed, *common, f"loop.stop_at_step={end}"))
    assert second.step == end and second.epoch >= 1  # crossed an epoch boundary after resuming
    assert second.data_digest == json.loads((tmp_path / "reference" / "summary-rank0.json").read_text())["state"]["data_digest"]
    assert_same_steps(by_step(resumed), by_step(reference), range(stop + 1, end + 1))


def test_resume_refuses_a_different_data_layout(preset, tiny_model, tmp_path):
    output = str(tmp_path / "run")
    train(preset("clip-en", output, *tiny_model, "loop.stop_at_step=2"))
    with pytest.raises(ValueError, match="same world size, workers"):
        train(preset("clip-en", output, *tiny_model, "loop.stop_at_step=4", "data.workers=2"))


def write_config(config, path) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.model_dump(mode="json"), handle)
    return str(path)


def wait_for_checkpoint(output: str, process: subprocess.Popen, at_least: int) -> None:
    while not any(step >= at_least for step, _ in list_checkpoints(output)):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_cli_run_resumes_with_identical_batches_and_losses(preset, tiny_model, tmp_path):
    output, reference = str(tmp_path / "killed"), str(tmp_path / "reference")
    common = [*tiny_model, "loop.epochs=100", "loop.checkpoint_every=3", "data.workers=1", "model.text.dropout=0.1"]
    command = [sys.executable, "-m", "babelshard.cli", "train", write_config(preset("clip-en", output, *common), tmp_path / "run.yaml")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_checkpoint(output, process, at_least=6)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    saved = list_checkpoints(output)[-1][0]
    end = saved + 7
    finished = subprocess.run([*command, "-o", f"loop.stop_at_step={end}"], capture_output=True, timeout=300)
    assert finished.returncode == 0, finished.stderr.decode()[-3000:]
    train(preset("clip-en", reference, *common, f"loop.stop_at_step={end}"))
    assert_same_steps(by_step(output), by_step(reference), range(saved + 1, end + 1))


KILL_END = 18  # steps; epochs are 10 steps, so every resumed run crosses an epoch boundary
KILL_COMMON = ["loop.epochs=100", "loop.checkpoint_every=3", "data.workers=2", "model.text.dropout=0.1",
               f"loop.stop_at_step={KILL_END}"]
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "killpoints.py")


@pytest.fixture(scope="module")
def uninterrupted(preset, tiny_model, tmp_path_factory) -> str:
    """The run every killed-and-resumed run must match, step for step."""
    output = str(tmp_path_factory.mktemp("uninterrupted") / "run")
    train(preset("clip-en", output, *tiny_model, *KILL_COMMON))
    return output


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def wait_for_exit(pids: list[int], limit_s: float = 120.0) -> list[int]:
    """The pids still running after ``limit_s`` (a DataLoader worker checks for its parent every 5 s)."""
    deadline = time.monotonic() + limit_s
    while any(process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if process_alive(p)]


def torn_partial(output: str) -> list[str]:
    folder = os.path.join(output, "checkpoints")
    return [name for name in os.listdir(folder) if name.endswith(".partial")] if os.path.isdir(folder) else []


@pytest.mark.slow
@pytest.mark.parametrize("point,at", [("mid_step", 8), ("checkpoint_write", 9), ("loader_prefetch", 14), ("loader_worker", 15)])
def test_a_run_killed_at_each_fault_point_resumes_exactly(uninterrupted, preset, tiny_model, tmp_path, point, at):
    from babelshard.train.files import UnreadableTrainerFile
    from babelshard.train.loop.checkpoint import find_resume, load_checkpoint

    output = str(tmp_path / "killed")
    config = write_config(preset("clip-en", output, *tiny_model, *KILL_COMMON), tmp_path / "run.yaml")
    killed = subprocess.run([sys.executable, DRIVER, point, str(at), config], capture_output=True, timeout=600)
    stderr = killed.stderr.decode()[-3000:]
    if point == "loader_worker":  # the main process notices its worker died and fails
        assert killed.returncode == 1 and "DataLoader worker" in stderr and "killed by signal" in stderr, stderr
    else:
        assert killed.returncode == -signal.SIGKILL, stderr
    with open(f"{output}.workers", encoding="utf-8") as handle:
        workers = [int(line) for line in handle]
    assert workers and wait_for_exit(workers) == []  # no loader worker outlives its run
    saved = list_checkpoints(output)[-1][0]
    assert saved < at and find_resume(output, "auto") == list_checkpoints(output)[-1][1]
    if point == "checkpoint_write":  # the torn file is under its temporary name only, never picked
        assert saved == at - 3 and torn_partial(output) == [f"ckpt-{at:08d}.pt.partial"]
        with pytest.raises(UnreadableTrainerFile, match="not a readable checkpoint"):
            load_checkpoint(os.path.join(output, "checkpoints", torn_partial(output)[0]))
    finished = subprocess.run([sys.executable, "-m", "babelshard.cli", "train", config], capture_output=True, timeout=600)
    assert finished.returncode == 0, finished.stderr.decode()[-3000:]
    assert_same_steps(by_step(output), by_step(uninterrupted), range(saved + 1, KILL_END + 1))
    summaries = [json.loads(open(os.path.join(o, "summary-rank0.json"), encoding="utf-8").read()) for o in (output, uninterrupted)]
    assert summaries[0]["state"]["data_digest"] == summaries[1]["state"]["data_digest"]
    assert summaries[0]["parameters"] == summaries[1]["parameters"]  # the same weights at the end
    assert torn_partial(output) == []  # the resumed run's first save removed the torn file
