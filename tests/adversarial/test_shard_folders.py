"""Crafted and damaged shard folders: an index naming files outside the folder is
refused everywhere; ``inspect`` catches a missing or cut shard without ``--verify``;
publishing over an earlier version never leaves a finished-looking mix."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from babelshard.shards.index import ShardIndexError, read_index
from babelshard.shards.publish import publish_folder
from babelshard.shards.reader import ShardIntegrityError, iter_records, verify_folder
from babelshard.shards.writer import write_records
from babelshard.testing import caption_records


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "babelshard.cli", *args], capture_output=True, text=True, timeout=300)


def assert_one_line_exit_2(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "shards"
    write_records(str(path), "caption", caption_records(12), max_samples=4)
    return path


def rename_first_shard_in_index(folder, name) -> None:
    path = folder / "index.json"
    index = json.loads(path.read_text(encoding="utf-8"))
    index["shards"][0]["name"] = name
    path.write_text(json.dumps(index), encoding="utf-8")


@pytest.mark.parametrize(
    "name", ["../outside.tar", "/etc/passwd", "sub/shard-000000.tar", "shard-000000.tar/../../x.tar", "shard-1.tar", 7, ""]
)
def test_an_index_naming_anything_but_a_plain_shard_file_is_refused(folder, tmp_path, name):
    outside = tmp_path / "outside.tar"
    os.replace(folder / "shard-000000.tar", outside)  # the file the crafted name points at exists
    rename_first_shard_in_index(folder, name)
    with pytest.raises(ShardIndexError, match="is not a plain shard file name"):
        read_index(str(folder))
    with pytest.raises(ShardIndexError):
        verify_folder(str(folder))
    with pytest.raises(ShardIndexError):
        list(iter_records(str(folder)))
    with pytest.raises(ShardIndexError):
        publish_folder(str(folder), str(tmp_path / "published" / "deep"))
    assert not (tmp_path / "published").exists() and sorted(os.listdir(tmp_path)) == ["outside.tar", "shards"]


@pytest.mark.slow
def test_inspect_verify_of_a_crafted_index_exits_2(folder):
    rename_first_shard_in_index(folder, "../outside.tar")
    assert_one_line_exit_2(cli("inspect", "--verify", str(folder)), "'../outside.tar'", "is not a plain shard file name")


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["cut", "missing", "cut-on-a-member-boundary"])
def test_inspect_without_verify_catches_a_damaged_shard(folder, damage):
    shard = folder / "shard-000001.tar"
    data = shard.read_bytes()
    if damage == "missing":
        shard.unlink()
    elif damage == "cut":
        shard.write_bytes(data[: len(data) // 2 + 17])
    else:
        shard.write_bytes(data[:1024])  # a whole number of 512-byte blocks: still a valid-looking tar
    result = cli("inspect", "-n", "0", str(folder))
    assert_one_line_exit_2(result, "shard-000001.tar")


def test_a_failed_republish_over_an_earlier_version_leaves_no_index(tmp_path):
    v1, v2, destination = tmp_path / "v1", tmp_path / "v2", tmp_path / "published"
    write_records(str(v1), "caption", caption_records(20), max_samples=4)
    write_records(str(v2), "caption", caption_records(12)[::-1], max_samples=3)
    publish_folder(str(v1), str(destination))
    shard = v2 / "shard-000002.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 1  # v2 is damaged: its publish stops at this shard
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="shard-000002.tar"):
        publish_folder(str(v2), str(destination))
    with pytest.raises(ShardIndexError, match="has not finished"):
        read_index(str(destination))  # not v1's index beside v2's shards
    assert not any(name.startswith(".") for name in os.listdir(destination))


def test_a_republish_replaces_the_earlier_version_whole(tmp_path):
    v1, v2, destination, clean = tmp_path / "v1", tmp_path / "v2", tmp_path / "published", tmp_path / "clean"
    write_records(str(v1), "caption", caption_records(20), max_samples=4)
    write_records(str(v2), "caption", caption_records(9)[::-1], max_samples=3)
    publish_folder(str(v1), str(destination))
    publish_folder(str(v2), str(destination))
    publish_folder(str(v2), str(clean))
    assert snapshot(destination) == snapshot(clean)  # v1's extra shards and stats are gone
    verify_folder(str(destination))


def snapshot(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}
