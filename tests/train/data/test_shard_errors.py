"""Corrupt shards while training, on real cut shards: a byte count other than the index's is
an error even without ``verify`` (a shard cut on a member boundary is otherwise a valid,
shorter tar); failed reads are counted, logged at a limited rate, and held to an error
budget, so a folder of cut shards stops the run with one line instead of training on."""
from __future__ import annotations

import logging
import os
import re
import shutil
import tarfile

import pytest
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.shards.index import read_index
from babelshard.shards.reader import ShardIntegrityError, iter_samples, read_shard
from babelshard.shards.tarscan import scan_samples
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.shardstream import RateLimitedLog, ShardErrorBudget, ShardReadErrors
from babelshard.train.data.tokenizer import HashTokenizer
from babelshard.train.loop.metrics import read_metrics
from babelshard.train.loop.steps import train
from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig


def caption_stream(folder: str, **kwargs) -> CaptionStreamConfig:
    options = dict(name="caption", folders=[folder], batch_size=16, image=ImageConfig(size=24))
    return CaptionStreamConfig(**{**options, **kwargs})


def sample_starts(path: str) -> list[tuple[int, tarfile.TarInfo]]:
    """(header offset, first member) of every sample of a shard, in order."""
    with tarfile.open(path) as archive:
        members = archive.getmembers()
    starts, key = [], None
    for member in members:
        if member.name.split(".", 1)[0] != key:
            key = member.name.split(".", 1)[0]
            starts.append((member.offset, member))
    return starts


def cut_on_a_member_boundary(path: str) -> None:
    """Keep the first half of the samples: what is left is a well-formed (shorter) tar."""
    starts = sample_starts(path)
    os.truncate(path, starts[len(starts) // 2][0])


def cut_mid_member(path: str) -> None:
    _, member = sample_starts(path)[len(sample_starts(path)) // 2]
    os.truncate(path, member.offset_data + member.size // 2)


CUTS = {"member_boundary": cut_on_a_member_boundary, "mid_member": cut_mid_member}


def copy_with_cuts(source: str, target: str, cut: str, shards: list[int]) -> list:
    shutil.copytree(source, target)
    index = read_index(target)
    for number in shards:
        CUTS[cut](os.path.join(target, index.shards[number].name))
    return [index.shards[number] for number in shards]


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_a_cut_shard_is_skipped_and_counted_without_verify(toy, tmp_path, cut):
    folder = str(tmp_path / "caption")
    [broken] = copy_with_cuts(toy["caption"], folder, cut, [2])
    path = os.path.join(folder, broken.name)
    if cut == "member_boundary":  # the tar alone cannot tell: it reads as a shorter, valid shard
        with open(path, "rb") as handle:
            assert len(scan_samples(handle.read())) == broken.samples // 2
    with pytest.raises(ShardIntegrityError, match=f"{broken.name}: {os.path.getsize(path)} bytes, index says {broken.bytes}$"):
        read_shard(folder, broken)
    broken_keys = {s["__key__"] for s in iter_samples(toy["caption"]) if s["__url__"].endswith(broken.name)}
    dataset = MixedStream([caption_stream(folder, interleave=2, resample=False)], HashTokenizer(), batches_per_epoch=60)
    batches = list(DataLoader(dataset, batch_size=None, num_workers=0))
    keys = {k for b in batches for k in b.streams["caption"].keys}
    assert batches[-1].meta.counters["caption"]["shard_errors"] >= 1  # one error among the first reads: no stop
    assert not keys & broken_keys
    assert len(keys) == read_index(folder).samples - broken.samples  # every other sample still arrives


def run_cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result, result.stderr.strip().splitlines()


def write_config(config, path) -> str:
    import yaml

    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config.model_dump(mode="json"), handle)
    return str(path)


@pytest.mark.parametrize("cut,workers,min_reads", [("member_boundary", 0, 100), ("mid_member", 2, 100),
                                                    ("member_boundary", 2, 10)])
def test_a_folder_of_cut_shards_stops_the_run_with_one_line(toy, preset, tiny_model, tmp_path, cut, workers, min_reads):
    folder = str(tmp_path / "caption")
    copy_with_cuts(toy["caption"], folder, cut, list(range(len(read_index(toy["caption"]).shards))))
    output = str(tmp_path / "run")
    config = preset("clip-en", output, *tiny_model, f"data.streams.0.folders=[{folder}]", f"data.workers={workers}",
                    f"data.min_shard_reads={min_reads}", "loop.epochs=2")
    result, lines = run_cli("train", write_config(config, tmp_path / "run.yaml"))
    assert result.exit_code == 2 and len(lines) == 1, result.output
    if min_reads <= 2 * 8 + 8:  # the budget applies before every shard has failed twice in a row
        assert "stream 'caption':" in lines[0] and "shard reads failed (100.0%)" in lines[0], lines[0]
        assert "more than data.max_shard_error_rate=0.01 allows" in lines[0]
    else:
        assert f"{folder}: no readable shard in" in lines[0] and "stream 'caption'" in lines[0], lines[0]
    assert re.search(rf"last: {folder}/shard-\d+\.tar: \d+ bytes, index says \d+", lines[0])  # the size check named the shard
    assert not os.path.exists(os.path.join(output, "model.pt"))


def test_the_error_budget_is_configurable_and_counted_over_the_run(toy, preset, tiny_model, tmp_path, caplog):
    folder = str(tmp_path / "caption")
    copy_with_cuts(toy["caption"], folder, "mid_member", [1, 4, 6])  # 3 of 8 shards
    common = [*tiny_model, f"data.streams.0.folders=[{folder}]", "data.min_shard_reads=10", "data.samples_per_epoch=1600",
              "loop.epochs=1"]
    with pytest.raises(ShardReadErrors, match=r"stream 'caption': \d+ of \d+ shard reads failed \(\d+\.\d%\), more than "
                                              r"data.max_shard_error_rate=0.01 allows"):
        train(preset("clip-en", str(tmp_path / "strict"), *common))
    output = str(tmp_path / "tolerant")
    with caplog.at_level(logging.WARNING, logger="babelshard.train.data"):
        state = train(preset("clip-en", output, *common, "data.max_shard_error_rate=0.9"))
    errors = state.counters()["caption/shard_errors"]
    reads = state.counters()["caption/shards_read"]
    assert errors >= 10 and 0.2 < errors / (errors + reads) < 0.9
    assert read_metrics(os.path.join(output, "metrics.jsonl"))[-1]["data"]["caption/shard_errors"] == errors
    logged = [r for r in caplog.records if "skipping unreadable shard" in r.getMessage()]
    assert 1 <= len(logged) < errors  # logged at a limited rate, counted in full


def test_the_budget_applies_to_a_streams_totals_from_its_minimum_reads():
    budget = ShardErrorBudget(max_rate=0.01, min_reads=100)
    budget.check_totals({"caption/shards_read": 9, "caption/shard_errors": 1})  # 1 failure in the first 10 reads
    budget.check_totals({"caption/shards_read": 99, "caption/shard_errors": 1, "text/shards_read": 500})  # 1% is allowed
    with pytest.raises(ShardReadErrors, match=r"^stream 'text': 2 of 100 shard reads failed \(2.0%\)"):
        budget.check_totals({"caption/shards_read": 500, "text/shards_read": 98, "text/shard_errors": 2})
    ShardErrorBudget(max_rate=1.0, min_reads=1).check_totals({"caption/shard_errors": 50})  # 1: never stops


def test_shard_warnings_are_rate_limited_with_a_count_of_the_suppressed(caplog):
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("babelshard.test.ratelimit"), first=3, every_s=30.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="babelshard.test.ratelimit"):
        for second in range(60):
            now[0] = float(second)
            limited.warning(f"error {second}")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:3] == ["error 0", "error 1", "error 2"]
    assert messages[3:] == ["error 32 (29 similar messages suppressed)"]
