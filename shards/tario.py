"""Deterministic tar encoding of WebDataset samples.

Members of a sample are written sorted by name with fixed mtime, uid, gid, owner names
and mode, so the same samples always give the same bytes (the bytes
``webdataset.TarWriter(user="", group="", mtime=0)`` writes). The output is hashed while
it is written, so a finished shard's sha256 costs no second read.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO, Iterable, Mapping, Sequence

BLOCK = tarfile.BLOCKSIZE  # 512
RECORD = tarfile.RECORDSIZE  # 10240: tarfile pads the archive to a multiple of this
FIXED_MTIME = 0
FIXED_MODE = 0o444
_IOV_MAX = 1024  # buffers per writev call (POSIX's minimum; Linux's value)


class HashingWriter:
    """A write-only file wrapper that counts bytes and computes a sha256 as it goes.

    Pieces are gathered up to ``CHUNK`` bytes; this thread writes them as they are (one
    ``writev`` call per 1,024 pieces, no joining copy) while a helper thread hashes the
    chunks in order (:func:`hash_pieces`; hashlib and file writes both release the GIL).
    At most ``BACKLOG`` bytes wait for the hash; beyond that a write waits, so a starved
    hashing thread holds back memory, not correctness. A file object that is not a plain
    file (no descriptor of its own) gets each chunk joined and written.
    """

    CHUNK = 1 << 20
    BACKLOG = 64 << 20

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.position = 0
        self.pieces: list[bytes] = []
        self.pending_bytes = 0
        self.hashing: deque[tuple[Future, int]] = deque()  # submitted chunks and their sizes
        self.unhashed = 0
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-sha256")
        self.descriptor = plain_file_descriptor(raw)

    def write(self, data: bytes) -> int:
        self.pieces.append(data)
        self.pending_bytes += len(data)
        self.position += len(data)
        if self.pending_bytes >= self.CHUNK:
            self._flush_pieces()
        return len(data)

    def write_pieces(self, pieces: Iterable[bytes], size: int) -> None:
        """Write several pieces whose lengths add up to ``size``."""
        self.pieces.extend(pieces)
        self.pending_bytes += size
        self.position += size
        if self.pending_bytes >= self.CHUNK:
            self._flush_pieces()

    def _flush_pieces(self) -> None:
        pieces, size = self.pieces, self.pending_bytes
        self.pieces, self.pending_bytes = [], 0
        self._wait_for_backlog()
        if self.descriptor is None:
            pieces = [b"".join(pieces)]  # joined once for the file object; hashing one piece copies nothing
        # one worker: chunks are hashed in order
        self.hashing.append((self.hasher.submit(hash_pieces, self.sha256, pieces), size))
        self.unhashed += size
        if self.descriptor is None:
            self.raw.write(pieces[0])
        else:
            write_all(self.descriptor, pieces)

    def _wait_for_backlog(self) -> None:
        while self.hashing and (self.unhashed > self.BACKLOG or self.hashing[0][0].done()):
            future, size = self.hashing.popleft()
            future.result()
            self.unhashed -= size

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        if self.pieces:
            self._flush_pieces()
        self.raw.flush()

    def hexdigest(self) -> str:
        """The sha256 of everything written; call after the last write, from any thread."""
        self.flush()
        self.hasher.shutdown(wait=True)
        for future, _ in self.hashing:
            future.result()
        self.hashing.clear()
        return self.sha256.hexdigest()


def plain_file_descriptor(raw: BinaryIO) -> int | None:
    """The descriptor behind an ordinary binary file (``open(path, "wb")``), after
    flushing its buffer; None for anything else (a compressor's descriptor is the
    compressed file's, so writing to it would bypass the compression)."""
    if type(raw) not in (io.BufferedWriter, io.FileIO):
        return None
    raw.flush()
    return raw.fileno()


def hash_pieces(sha256: Any, pieces: Sequence[bytes]) -> None:
    """One update on a joined copy of a chunk. The copy lands in this core's cache, where
    sha256 runs about 1.5x faster than on pieces another core just wrote, and the thread
    takes the GIL back once per chunk rather than after every large piece; that costs
    less than the copy (docs/benchmarks.md, shard writer)."""
    sha256.update(b"".join(pieces))


def write_all(descriptor: int, pieces: Sequence[bytes]) -> None:
    """``writev`` every piece, 1,024 at a time, resuming after a short write."""
    for start in range(0, len(pieces), _IOV_MAX):
        batch = pieces[start : start + _IOV_MAX]
        expected = sum(map(len, batch))
        written = os.writev(descriptor, batch)
        while written < expected:
            batch, expected = pieces_after(batch, written), expected - written
            written = os.writev(descriptor, batch)


def pieces_after(pieces: Sequence[bytes], count: int) -> list:
    """What is left of ``pieces`` once their first ``count`` bytes are written."""
    for index, piece in enumerate(pieces):
        if count < len(piece):
            return [memoryview(piece)[count:], *pieces[index + 1 :]]
        count -= len(piece)
    return []


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
_AFTER_NAME = [_TEMPLATE[length:124] for length in range(101)]  # the rest of the first 124 bytes
_AFTER_SIZE = _TEMPLATE[136:148]  # mtime
_AFTER_CHECKSUM = _TEMPLATE[156:]
_PADDING = [b"\0" * length for length in range(BLOCK)]
_END_OF_ARCHIVE = b"\0" * (2 * BLOCK)


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
    checksum_field = b"%06o\0 " % checksum
    return b"".join((encoded, _AFTER_NAME[len(encoded)], size_field, _AFTER_SIZE, checksum_field, _AFTER_CHECKSUM))


def tar_pieces(members: list[tuple[str, bytes]]) -> tuple[list[bytes], int]:
    """A sample's members in tar form: (header, data, padding) pieces of each, and their size."""
    pieces, size = [], 0
    for name, data in members:
        padding = _PADDING[-len(data) % BLOCK]
        pieces += (ustar_header(name, len(data)), data, padding)
        size += BLOCK + len(data) + len(padding)
    return pieces, size


class TarStream:
    """Writes tar members sequentially to a :class:`HashingWriter`."""

    def __init__(self, writer: HashingWriter):
        self.writer = writer

    def add(self, members: list[tuple[str, bytes]]) -> None:
        """One sample's members: header, data and padding of each go out as separate pieces."""
        self.writer.write_pieces(*tar_pieces(members))

    def add_encoded(self, data: bytes) -> None:
        """One sample already in tar form (what :func:`tar_pieces` gave, joined)."""
        self.writer.write(data)

    def close(self) -> None:
        """End-of-archive blocks, then padding to a whole record, as ``tarfile`` does;
        everything is handed to the file (no fsync: the shard's owner does that)."""
        self.writer.write(_END_OF_ARCHIVE)
        remainder = self.writer.tell() % RECORD
        if remainder:
            self.writer.write(b"\0" * (RECORD - remainder))
        self.writer.flush()
