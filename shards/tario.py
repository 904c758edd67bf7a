"""Deterministic tar encoding of WebDataset samples.

Members of a sample are written sorted by name with fixed mtime, uid, gid, owner names
and mode, so the same samples always give the same bytes. The output is hashed while
it is written, so a finished shard's sha256 costs no second read.
"""
from __future__ import annotations

import hashlib
import tarfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Mapping

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240: tarfile pads the archive to a multiple of this
FIXED_MTIME = 0
FIXED_MODE = 0o444


class HashingWriter:
    """A write-only file wrapper that counts bytes and computes a sha256 as it goes.

    Writes are gathered into chunks; each chunk is hashed on a helper thread while the
    caller writes it to disk (hashlib and file writes both release the GIL), so hashing
    costs almost no wall time on a machine with a second core.
    """

    CHUNK = 4 << 20

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.position = 0
        self.pieces: list[bytes] = []
        self.pending_bytes = 0
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-sha256")

    def write(self, data: bytes) -> int:
        self.pieces.append(data)
        self.pending_bytes += len(data)
        self.position += len(data)
        if self.pending_bytes >= self.CHUNK:
            self._flush_pieces()
        return len(data)

    def _flush_pieces(self) -> None:
        # One joined chunk: hashlib releases the GIL only for large inputs, and one
        # write call per chunk keeps the writer a sequential byte copy.
        chunk = b"".join(self.pieces)
        self.pieces, self.pending_bytes = [], 0
        self.hasher.submit(self.sha256.update, chunk)  # one worker: chunks are hashed in order
        self.raw.write(chunk)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        if self.pieces:
            self._flush_pieces()
        self.raw.flush()

    def hexdigest(self) -> str:
        """The sha256 of everything written; call after the last write."""
        self.flush()
        self.hasher.shutdown(wait=True)
        return self.sha256.hexdigest()


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


def _header_template() -> bytes:
    fields = [
        b"\0" * 100,  # name, filled in per member
        b"%07o\0" % FIXED_MODE,
        b"%07o\0" % 0,  # uid
        b"%07o\0" % 0,  # gid
        b"\0" * 12,  # size, filled in per member
        b"%011o\0" % FIXED_MTIME,
        b" " * 8,  # checksum is computed with this field as spaces
        b"0",  # regular file
        b"\0" * 100,  # link name
        b"ustar\x0000",
        b"\0" * 64,  # owner and group names
        b"\0" * 16,  # device major and minor: empty for regular files
        b"\0" * 167,  # prefix and padding
    ]
    return b"".join(fields)


_TEMPLATE = _header_template()
_TEMPLATE_SUM = sum(_TEMPLATE)


def ustar_header(name: str, size: int) -> bytes:
    """A POSIX ustar header for a regular file with babelshard's fixed metadata.

    Built from a template rather than through ``tarfile`` because it is the hot path of
    shard writing; a test checks it byte for byte against ``tarfile``'s own encoding.
    """
    encoded = name.encode("utf-8")
    if len(encoded) > 100:
        raise ValueError(f"tar member name longer than 100 bytes: {name!r}")
    size_field = b"%011o\0" % size
    checksum = _TEMPLATE_SUM + sum(encoded) + sum(size_field)
    return b"".join((
        encoded, _TEMPLATE[len(encoded):124], size_field, _TEMPLATE[136:148], b"%06o\0 " % checksum, _TEMPLATE[156:],
    ))


class TarStream:
    """Writes tar members sequentially to a :class:`HashingWriter`."""

    def __init__(self, writer: HashingWriter):
        self.writer = writer

    def add(self, members: list[tuple[str, bytes]]) -> None:
        for name, data in members:
            self.writer.write(ustar_header(name, len(data)))
            self.writer.write(data)
            remainder = len(data) % BLOCK
            if remainder:
                self.writer.write(b"\0" * (BLOCK - remainder))

    def close(self) -> None:
        """End-of-archive blocks, then padding to a whole record, as ``tarfile`` does."""
        self.writer.write(b"\0" * (2 * BLOCK))
        remainder = self.writer.tell() % RECORD
        if remainder:
            self.writer.write(b"\0" * (RECORD - remainder))
