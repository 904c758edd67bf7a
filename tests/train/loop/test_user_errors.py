"""Settings the data or the machine cannot satisfy stop ``babelshard train`` with one line,
exit 2, before any step."""
from __future__ import annotations

import os

import pytest
import torch
import yaml
from typer.testing import CliRunner

from babelshard.cli import app


def train_cli(config, path) -> tuple[int, list[str]]:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.model_dump(mode="json"), handle)
    result = CliRunner().invoke(app, ["train", str(path)])
    return result.exit_code, result.stderr.strip().splitlines()


def test_more_workers_than_shards_without_resampling_is_one_line(preset, tiny_model, tmp_path):
    output = str(tmp_path / "run")
    config = preset("clip-en", output, *tiny_model, "data.streams.0.resample=false", "data.workers=9")
    code, lines = train_cli(config, tmp_path / "run.yaml")
    assert code == 2 and len(lines) == 1, lines
    assert "shards cannot be split over 9 workers without resampling; set resample: true" in lines[0]
    assert not os.path.exists(os.path.join(output, "metrics.jsonl"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_asked_for_on_a_machine_without_it_is_one_line(preset, tiny_model, tmp_path):
    code, lines = train_cli(preset("clip-en", str(tmp_path / "run"), *tiny_model, "loop.device=cuda"), tmp_path / "run.yaml")
    assert code == 2 and lines == ["error: loop.device is cuda but no CUDA device is available"]
