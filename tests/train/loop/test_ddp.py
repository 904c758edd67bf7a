"""Two-process DDP on CPU (gloo) through torchrun and the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from babelshard.train.loop.checkpoint import list_checkpoints
from babelshard.train.loop.metrics import read_metrics


@pytest.mark.slow
def test_torchrun_two_processes_train_one_model_on_different_data(preset, tiny_model, tmp_path):
    output = str(tmp_path / "ddp")
    config = preset("clip-en", output, *tiny_model, "loop.max_steps=6", "loop.checkpoint_every=3", "loop.epochs=2",
                    "data.streams.0.batch_size=16")
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "babelshard.cli", "train", str(path)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    finished = subprocess.run(command, capture_output=True, timeout=600, env=env)
    assert finished.returncode == 0, finished.stderr.decode()[-4000:]

    summaries = [json.loads((tmp_path / "ddp" / f"summary-rank{r}.json").read_text()) for r in (0, 1)]
    assert [s["world"] for s in summaries] == [2, 2]
    assert summaries[0]["parameters"] == summaries[1]["parameters"]  # gradients were averaged
    assert summaries[0]["steps_per_epoch"] == 320 // (16 * 2)

    checkpoint = torch.load(list_checkpoints(output)[-1][1], map_location="cpu", weights_only=True)
    ranks = checkpoint["ranks"]
    assert len(ranks) == 2 and ranks[0]["data_digest"] != ranks[1]["data_digest"]  # each rank read its own samples
    assert summaries[0]["state"]["data_digest"] == ranks[0]["data_digest"]
    records = read_metrics(os.path.join(output, "metrics.jsonl"))
    assert [r["step"] for r in records] == list(range(1, 7))
    assert all(r["loss"] == r["loss"] and r["loss"] > 0 for r in records)
