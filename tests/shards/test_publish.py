"""Publishing to a local folder and to S3 (moto's standalone server over real HTTP)."""
from __future__ import annotations

import hashlib
import os

import fsspec
import pytest

from babelshard.shards.index import ShardIndexError, read_index
from babelshard.shards.publish import publish_folder
from babelshard.shards.reader import ShardIntegrityError, iter_records, verify_folder
from babelshard.shards.writer import write_records

from babelshard.testing import caption_records


@pytest.fixture
def finished(tmp_path):
    folder = tmp_path / "src"
    write_records(str(folder), "caption", caption_records(25), max_samples=5)
    return str(folder)


def test_publish_to_a_local_folder(finished, tmp_path):
    report = publish_folder(finished, str(tmp_path / "dst"))
    assert len(report.uploaded) == 5 and not report.skipped
    index = verify_folder(str(tmp_path / "dst"))
    assert index.samples == 25
    assert os.path.exists(tmp_path / "dst" / "shard-000000.stats.json")


def test_refuses_an_unfinished_source(finished, tmp_path):
    os.remove(os.path.join(finished, "index.json"))
    with pytest.raises(ShardIndexError, match="unfinished"):
        publish_folder(finished, str(tmp_path / "dst"))
    assert not (tmp_path / "dst").exists()


def test_refuses_a_tampered_shard_and_writes_no_index(finished, tmp_path):
    path = os.path.join(finished, "shard-000003.tar")
    data = bytearray(open(path, "rb").read())
    data[600] ^= 1
    open(path, "wb").write(bytes(data))
    with pytest.raises(ShardIntegrityError, match="shard-000003.tar"):
        publish_folder(finished, str(tmp_path / "dst"))
    assert not (tmp_path / "dst" / "index.json").exists()


def test_publish_to_s3_over_http(finished, s3):
    destination = f"{s3}/run1/caption"
    report = publish_folder(finished, destination)
    assert len(report.uploaded) == 5
    index = verify_folder(destination)
    assert index.samples == 25
    assert sorted(r.key for r in iter_records(destination)) == sorted(r.key for r in iter_records(finished))


def test_resume_after_an_interrupted_upload(finished, s3):
    destination = f"{s3}/run2/caption"
    bucket_path = destination.removeprefix("s3://")
    fs = fsspec.filesystem("s3")
    # The state an interrupted publish leaves: two shards up, a third cut short, no index.
    for name in ("shard-000000.tar", "shard-000001.tar"):
        fs.put_file(os.path.join(finished, name), f"{bucket_path}/{name}")
    fs.pipe_file(f"{bucket_path}/shard-000002.tar", open(os.path.join(finished, "shard-000002.tar"), "rb").read()[:1000])
    with pytest.raises(ShardIndexError):
        read_index(destination)
    report = publish_folder(finished, destination)
    assert sorted(os.path.basename(p) for p in report.skipped) == ["shard-000000.tar", "shard-000001.tar"]
    assert sorted(os.path.basename(p) for p in report.uploaded) == ["shard-000002.tar", "shard-000003.tar", "shard-000004.tar"]
    index = verify_folder(destination)
    for shard in index.shards:
        remote = hashlib.sha256(fs.cat_file(f"{bucket_path}/{shard.name}")).hexdigest()
        assert remote == shard.sha256


def test_publish_a_tree_of_shard_folders(tmp_path):
    root = tmp_path / "build"
    write_records(str(root / "caption"), "caption", caption_records(6), max_samples=4)
    write_records(str(root / "text" / "de"), "caption", caption_records(3), max_samples=4)
    report = publish_folder(str(root), str(tmp_path / "dst"))
    assert len(report.folders) == 2
    assert read_index(str(tmp_path / "dst" / "text" / "de")).samples == 3
