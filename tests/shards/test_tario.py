"""Tar encoding: the bytes webdataset's own TarWriter writes, the sha256 of what reached
the file, on plain files (writev of unjoined pieces) and on other file objects alike."""
from __future__ import annotations

import hashlib
import io

import pytest
import webdataset as wds

from babelshard.shards.tario import HashingWriter, TarStream, pieces_after, sample_members
from babelshard.testing import caption_records


def samples(count: int) -> list[dict]:
    return [record.to_sample() for record in caption_records(count)]


def webdataset_tar(items: list[dict]) -> bytes:
    """webdataset's TarWriter with babelshard's fixed owner and time, on the same member bytes."""
    buffer = io.BytesIO()
    with wds.TarWriter(buffer, user="", group="", mtime=0, encoder=False) as writer:
        for sample in items:
            members = {name.split(".", 1)[1]: data for name, data in sample_members(sample)}
            writer.write({"__key__": sample["__key__"], **members})
    return buffer.getvalue()


def babelshard_tar(items: list[dict], raw, writer_class=HashingWriter) -> str:
    hashing = writer_class(raw)
    archive = TarStream(hashing)
    for sample in items:
        archive.add(sample_members(sample))
    archive.close()
    return hashing.hexdigest()


@pytest.mark.parametrize("count", [30, 1500])  # 1,500: 1 MiB chunks of over 1,024 pieces each, and the rest
def test_tar_bytes_equal_webdatasets_tarwriter_and_the_hash_is_theirs(tmp_path, count):
    items = samples(count)
    expected = webdataset_tar(items)
    path = tmp_path / "shard.tar"
    with open(path, "wb") as plain_file:
        digest = babelshard_tar(items, plain_file)
    assert path.read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest()
    assert count < 100 or len(expected) > HashingWriter.CHUNK
    in_memory = io.BytesIO()  # no descriptor of its own: chunks are joined and written
    assert babelshard_tar(items, in_memory) == digest
    assert in_memory.getvalue() == expected


def test_a_short_write_resumes_at_the_first_unwritten_byte():
    pieces = [b"abc", b"defg", b"h"]
    assert [bytes(piece) for piece in pieces_after(pieces, 5)] == [b"fg", b"h"]
    assert [bytes(piece) for piece in pieces_after(pieces, 3)] == [b"defg", b"h"]
    assert [bytes(piece) for piece in pieces_after(pieces, 0)] == [b"abc", b"defg", b"h"]
    assert pieces_after(pieces, 8) == []


class SmallChunksNoBacklog(HashingWriter):
    CHUNK = 4096
    BACKLOG = 0  # every chunk waits for the hash of the one before


def test_small_chunks_that_wait_for_the_hash_give_the_same_bytes_and_digest(tmp_path):
    items = samples(200)
    expected = webdataset_tar(items)
    path = tmp_path / "shard.tar"
    with open(path, "wb") as plain_file:
        digest = babelshard_tar(items, plain_file, SmallChunksNoBacklog)
    assert path.read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest()
