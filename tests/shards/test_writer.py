from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from babelshard.shards.index import INDEX_NAME, ShardIndexError, read_index
from babelshard.shards.reader import ShardIntegrityError, iter_records, verify_folder
from babelshard.shards.writer import ShardWriter, write_records

from babelshard.testing import caption_records


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_write_read_round_trip(tmp_path, records):
    index = write_records(str(tmp_path), "caption", records, max_samples=7)
    assert index.samples == len(records)
    assert index.languages == {"de": 30, "en": 30}
    back = list(iter_records(str(tmp_path), verify=True))
    assert sorted(r.key for r in back) == sorted(r.key for r in records)
    by_key = {r.key: r for r in records}
    for record in back:
        assert record.captions == by_key[record.key].captions
        assert record.image == by_key[record.key].image


def test_rollover_by_count(tmp_path, records):
    index = write_records(str(tmp_path), "caption", records, max_samples=7)
    assert [s.samples for s in index.shards] == [7, 7, 7, 7, 2]
    assert [s.name for s in index.shards] == [f"shard-{i:06d}.tar" for i in range(5)]


def test_rollover_by_size_counts_the_real_tar_size(tmp_path):
    records = caption_records(20, image_bytes=3000)
    limit = 16 * 1024
    index = write_records(str(tmp_path), "caption", records, max_bytes=limit)
    assert len(index.shards) > 1
    for shard in index.shards:
        real = os.path.getsize(tmp_path / shard.name)
        assert real == shard.bytes and real <= limit
    assert index.samples == 20


def test_members_are_sorted_with_fixed_metadata(tmp_path, records):
    write_records(str(tmp_path), "caption", records[:3])
    with tarfile.open(tmp_path / "shard-000000.tar") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    for start in range(0, len(names), 4):
        group = names[start : start + 4]
        assert group == sorted(group)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {(0, 0, 0, "", "", 0o444)}


def test_two_runs_give_identical_bytes(tmp_path, records):
    first, second = tmp_path / "a", tmp_path / "b"
    write_records(str(first), "caption", records, max_samples=8)
    write_records(str(second), "caption", records, max_samples=8)
    shards = sorted(p.name for p in first.glob("*.tar"))
    assert shards == sorted(p.name for p in second.glob("*.tar"))
    assert [sha(first / n) for n in shards] == [sha(second / n) for n in shards]
    assert (first / INDEX_NAME).read_bytes() == (second / INDEX_NAME).read_bytes()


def test_index_lists_sha256_and_is_written_last(tmp_path, records):
    index = write_records(str(tmp_path), "caption", records, max_samples=10)
    for shard in index.shards:
        assert shard.sha256 == sha(tmp_path / shard.name)
    newest_shard = max(os.stat(tmp_path / s.name).st_mtime_ns for s in index.shards)
    assert os.stat(tmp_path / INDEX_NAME).st_mtime_ns >= newest_shard
    stats = json.loads((tmp_path / "shard-000000.stats.json").read_text())
    assert stats["samples"] == 10 and stats["stats"]["inputs"] == 10


def test_exception_inside_writer_leaves_no_index_and_no_partial(tmp_path, records):
    with pytest.raises(RuntimeError):
        with ShardWriter(str(tmp_path), stream="caption", max_samples=4) as writer:
            for number, record in enumerate(records):
                if number == 10:
                    raise RuntimeError("input failed")
                writer.write_record(record)
    assert not (tmp_path / INDEX_NAME).exists()
    assert sorted(p.name for p in tmp_path.glob("*.tar")) == ["shard-000000.tar", "shard-000001.tar"]
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_index_version_and_shape_are_checked(tmp_path, records):
    write_records(str(tmp_path), "caption", records[:3])
    path = tmp_path / INDEX_NAME
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "version": 99}))
    with pytest.raises(ShardIndexError, match="unsupported index version 99"):
        read_index(str(tmp_path))
    path.write_text(json.dumps({"version": 1, "stream": "caption"}))
    with pytest.raises(ShardIndexError, match="malformed"):
        read_index(str(tmp_path))
    path.write_text("{not json")
    with pytest.raises(ShardIndexError, match="not valid JSON"):
        read_index(str(tmp_path))
    path.unlink()
    with pytest.raises(ShardIndexError, match="has not finished"):
        read_index(str(tmp_path))


def test_verified_read_refuses_a_tampered_shard(tmp_path, records):
    write_records(str(tmp_path), "caption", records, max_samples=10)
    shard = tmp_path / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ShardIntegrityError, match="shard-000001.tar: sha256"):
        verify_folder(str(tmp_path))
    assert len(list(iter_records(str(tmp_path), verify=False))) == 30  # unverified reads still work


def test_reading_into_a_reused_buffer_gives_the_shards_bytes_and_the_same_refusals(tmp_path, records):
    from babelshard.shards.reader import read_shard, read_shard_into

    folder = str(tmp_path)
    write_records(folder, "caption", records, max_samples=10)
    shards = read_index(folder).shards
    buffer = bytearray(b"x" * (shards[0].bytes + 5000))  # longer than a shard: cut to size
    for shard in shards:
        assert read_shard_into(folder, shard, buffer, verify=True) is buffer
        assert buffer == read_shard(folder, shard, verify=True)
    path = tmp_path / shards[1].name
    path.write_bytes(path.read_bytes() + b"\0" * 512)  # one block more than the index says
    with pytest.raises(ShardIntegrityError, match=f"{shards[1].name}: {shards[1].bytes + 512} bytes, index says {shards[1].bytes}$"):
        read_shard_into(folder, shards[1], buffer)
    os.truncate(path, 1024)
    with pytest.raises(ShardIntegrityError, match=f"{shards[1].name}: 1024 bytes, index says {shards[1].bytes}$"):
        read_shard_into(folder, shards[1], buffer)
    damaged = bytearray((tmp_path / shards[2].name).read_bytes())
    damaged[700] ^= 0xFF
    (tmp_path / shards[2].name).write_bytes(bytes(damaged))
    assert read_shard_into(folder, shards[2], buffer) == damaged  # the size alone holds
    with pytest.raises(ShardIntegrityError, match=f"{shards[2].name}: sha256"):
        read_shard_into(folder, shards[2], buffer, verify=True)
    path.unlink()
    with pytest.raises(ShardIntegrityError, match="listed in index.json but missing"):
        read_shard_into(folder, shards[1], buffer)


def test_unknown_stream_is_refused(tmp_path, records):
    with pytest.raises(ValueError, match="unknown stream 'images'"):
        write_records(str(tmp_path), "images", records[:1])


def test_hand_written_tar_matches_tarfile_byte_for_byte(tmp_path, records):
    import io

    from babelshard.shards.tario import FIXED_MODE, sample_members

    write_records(str(tmp_path), "caption", records[:5])
    reference = io.BytesIO()
    with tarfile.open(fileobj=reference, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for record in records[:5]:
            for name, data in sample_members(record.to_sample()):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, FIXED_MODE, 0, 0, "", ""
                archive.addfile(info, io.BytesIO(data))
    ours = (tmp_path / "shard-000000.tar").read_bytes()
    assert ours == reference.getvalue()
