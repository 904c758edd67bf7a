"""Checkpoint and resume: a run stopped (or killed) and resumed logs exactly the batches
and losses of an uninterrupted run, across epoch boundaries, with DataLoader workers,
gradient accumulation and dropout (torch RNG restored)."""
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
