"""Deterministic tar encoding of WebDataset samples.

Members of a sample are written sorted by name with fixed mtime, uid, gid, owner names
and mode, so the same samples always give the same bytes. The output is hashed while
it is written, so a finished shard's sha256 costs no second read.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
from typing import Any, BinaryIO, Mapping

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240: tarfile pads the archive to a multiple of this
FIXED_MTIME = 0
FIXED_MODE = 0o444


class HashingWriter:
    """A write-only file wrapper that counts bytes and updates a sha256 as it goes."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.position = 0

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.sha256.update(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        self.raw.flush()


def member_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"a shard member must be bytes or str, got {type(value).__name__}")


def sample_members(sample: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """(member name, bytes) of one sample, sorted by member name."""
    key = sample.get("__key__")
    if not key or "." in key or "/" in key:
        raise ValueError(f"a sample key must be non-empty without '.' or '/': {key!r}")
    return [(f"{key}.{name}", member_bytes(value)) for name, value in sorted(sample.items()) if not name.startswith("__")]


def encoded_size(members: list[tuple[str, bytes]]) -> int:
    """Bytes these members take in a tar: one header block each plus padded data."""
    return sum(BLOCK + -(-len(data) // BLOCK) * BLOCK for _, data in members)


def archive_size(content_bytes: int) -> int:
    """Final size of a tar whose members take ``content_bytes``: end blocks, record padding."""
    raw = content_bytes + 2 * BLOCK
    return -(-raw // RECORD) * RECORD


def add_members(archive: tarfile.TarFile, members: list[tuple[str, bytes]]) -> None:
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = FIXED_MTIME
        info.mode = FIXED_MODE
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        archive.addfile(info, io.BytesIO(data))


def open_archive(writer: HashingWriter) -> tarfile.TarFile:
    return tarfile.open(fileobj=writer, mode="w", format=tarfile.USTAR_FORMAT)
