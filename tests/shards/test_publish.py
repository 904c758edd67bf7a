"""Publishing to a local folder and to S3 (moto's standalone server over real HTTP)."""
from __future__ import annotations

import hashlib
import os

import fsspec
import pytest

from babelshard.shards.index import ShardIndexError, read_index
from babelshard.shards.publish import Digests, Progress, PublishSourceError, publish_folder, stored_checksum
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
    assert report.bytes_read_back == 0  # verified shards are checked by their ETag, not downloaded
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


def test_s3_uploads_are_verified_by_the_stored_checksum_without_reading_back(finished, s3):
    destination = "s3://babelshard-test/run3/caption"
    report = publish_folder(finished, destination, workers=4)
    assert report.verified_by == {"md5": 5} and report.bytes_read_back == 0
    assert report.bytes_uploaded == read_index(finished).bytes


def test_a_same_size_corrupt_object_is_uploaded_again(finished, s3):
    destination = "s3://babelshard-test/run4/caption"
    publish_folder(finished, destination)
    fs = fsspec.filesystem("s3")
    key = "babelshard-test/run4/caption/shard-000001.tar"
    data = bytearray(fs.cat_file(key))
    data[600] ^= 1
    fs.pipe_file(key, bytes(data))
    report = publish_folder(finished, destination)
    assert [os.path.basename(p) for p in report.uploaded] == ["shard-000001.tar"]
    verify_folder(destination)


def test_parallel_and_one_at_a_time_publish_the_same_files(finished, tmp_path):
    publish_folder(finished, str(tmp_path / "one"), workers=1)
    publish_folder(finished, str(tmp_path / "many"), workers=8)
    names = sorted(os.listdir(tmp_path / "one"))
    assert names == sorted(os.listdir(tmp_path / "many"))
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "many" / name).read_bytes()


def test_a_local_destination_is_read_back(finished, tmp_path):
    report = publish_folder(finished, str(tmp_path / "dst"))
    assert report.verified_by == {"read-back": 5}
    assert report.bytes_read_back == read_index(finished).bytes


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(PublishSourceError, match="no such folder") as caught:
        publish_folder(str(tmp_path / "nowhere"), str(tmp_path / "dst"))
    assert "nowhere" in str(caught.value) and "\n" not in str(caught.value)


def test_progress_lines_count_shards_and_bytes(finished, tmp_path, capsys):
    publish_folder(finished, str(tmp_path / "dst"), progress=True, workers=3)
    lines = capsys.readouterr().err.splitlines()
    total = read_index(finished).bytes
    shard_lines = [line for line in lines if line.startswith("[")]
    assert sorted(line.split("]")[0] for line in shard_lines) == [f"[{n}/5" for n in range(1, 6)]
    assert any(f"{total:,}/{total:,} bytes" in line for line in shard_lines)
    assert f"({total:,} bytes)" in lines[-1]


def test_progress_rate_and_time_left_come_from_the_clock():
    ticks = iter([100.0, 110.0])
    said = []
    progress = Progress(4, 4_000_000, said.append, clock=lambda: next(ticks))
    progress.done("shard-000000.tar", 1_000_000)  # 1 MB in 10 s: 0.1 MB/s, 3 MB left
    assert said == ["[1/4] shard-000000.tar 1,000,000/4,000,000 bytes 0.1 MB/s, about 30 s left"]


def test_stored_checksums_of_s3_and_gcs():
    digests = Digests.of(b"shard bytes")
    import base64
    import hashlib
    md5_b64 = base64.b64encode(hashlib.md5(b"shard bytes").digest()).decode()
    assert stored_checksum({"ETag": f'"{digests.md5}"'}) == ("md5", digests.md5)
    assert stored_checksum({"ETag": '"0123456789abcdef0123456789abcdef-3"'}) is None  # multipart: no file digest
    assert stored_checksum({"md5Hash": md5_b64}) == ("md5-base64", md5_b64)
    assert stored_checksum({"name": "x", "size": 3}) is None
