"""metrics.jsonl plus TensorBoard and W&B (offline) beside it, read back with their own readers."""
from __future__ import annotations

import glob
import json

import pytest

from babelshard.configbase import ConfigError, parse_config
from babelshard.train.config import LoopConfig
from babelshard.train.loop.metrics import MetricsLog, read_metrics, scalars

RECORDS = [
    {"step": step, "epoch": 0, "time": 1.7e9 + step, "lr": 0.1 / step, "batch_digest": f"d{step}", "loss": 2.0 - step / 10,
     "samples_per_second": {"caption": 100.0 + step, "text": 50.0}, "data": {"caption": {"decode_errors": step}}}
    for step in (10, 20, 30)
]


def test_scalars_are_the_numbers_with_nested_names():
    assert scalars(RECORDS[0]) == {
        "epoch": 0.0, "lr": 0.01, "loss": 1.0, "samples_per_second/caption": 110.0,
        "samples_per_second/text": 50.0, "data/caption/decode_errors": 10.0,
    }


def test_tensorboard_events_beside_metrics_jsonl(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard logging needs tensorboard (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log = MetricsLog(str(tmp_path / "metrics.jsonl"), loggers=["tensorboard"], run_name="toy", config={"name": "toy"})
    for record in RECORDS:
        log.write(record)
    log.close()
    assert read_metrics(str(tmp_path / "metrics.jsonl")) == RECORDS
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(scalars(RECORDS[0]))
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == [10, 20, 30]
    assert [e.value for e in loss] == pytest.approx([1.0, 0.0, -1.0])
    assert [e.value for e in events.Scalars("samples_per_second/caption")] == pytest.approx([110.0, 120.0, 130.0])


def test_wandb_offline_run_beside_metrics_jsonl(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="W&B logging needs wandb (pip install wandb)")
    for variable in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    log = MetricsLog(str(tmp_path / "out" / "metrics.jsonl"), loggers=["wandb"], run_name="toy", config={"name": "toy"})
    for record in RECORDS:
        log.write(record)
    log.close()
    import wandb

    wandb.teardown()  # W&B's service process may write the run file after finish() returns; this waits for it
    (path,) = glob.glob(str(tmp_path / "out" / "wandb" / "offline-run-*" / "run-*.wandb"))
    history = [record.history for record in wandb_records(path) if record.WhichOneof("record_type") == "history"]
    logged = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in h.item} for h in history]
    assert [row["_step"] for row in logged] == [10, 20, 30]
    assert [row["loss"] for row in logged] == pytest.approx([1.0, 0.0, -1.0])
    assert [row["samples_per_second/caption"] for row in logged] == pytest.approx([110.0, 120.0, 130.0])
    assert len(read_metrics(str(tmp_path / "out" / "metrics.jsonl"))) == 3


def wandb_records(path: str) -> list:
    """The records of an offline W&B run file: a ``:W&B`` header, then length-prefixed chunks in
    32 KiB blocks (full, or first/middle/last pieces of one record), each record a protobuf."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = open(path, "rb").read()
    assert data[:4] == b":W&B", "not a W&B run file"
    block, offset, pending, records = 32768, 7, b"", []
    while offset + 7 <= len(data):
        if block - offset % block < 7:  # a block's tail too short for a chunk header is padding
            offset += block - offset % block
            continue
        length, kind = int.from_bytes(data[offset + 4 : offset + 6], "little"), data[offset + 6]
        pending += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
        elif kind == 0:
            break
    return records


def test_loggers_option_names_a_bad_value():
    assert parse_config(LoopConfig, {"output": "x", "loggers": ["tensorboard", "wandb"]}).loggers == ["tensorboard", "wandb"]
    assert parse_config(LoopConfig, {"output": "x"}).loggers == []
    with pytest.raises(ConfigError, match="loggers.0"):
        parse_config(LoopConfig, {"output": "x", "loggers": ["mlflow"]})
