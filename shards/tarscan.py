"""Splitting an in-memory tar into WebDataset samples, fast.

A shard being read is already in memory; Python's ``tarfile`` spends most of a
loader's time building a ``TarInfo`` per member (a caption shard has ~16 members per
sample: image, json and a caption per language). For the usual shard (ustar headers,
short names) NumPy finds every header at once: the blocks that look like ustar headers
must chain from the first block to the end-of-archive zeros, one member's size after the
other, and their checksums hold. Any other tar is walked header by header in Python,
and tars with extended headers (pax, GNU long names) go through ``tarfile``; all three
give the same samples in the same order. A :class:`ShardTable` records where each
member's bytes are and copies a member out only when a reader asks for it; samples whose
members have the same names share one name -> position map (a :class:`MemberLayout`), so
a sample costs two integers, not a dict.
"""
from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping
from typing import Any, BinaryIO, Iterator

import numpy as np

BLOCK = 512
REGULAR = (b"0", b"\0", b"7")
SKIPPED = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, directories, fifos
_REGULAR_CODES = frozenset(k[0] for k in REGULAR)
_SKIPPED_CODES = frozenset(k[0] for k in SKIPPED)
_CHECKSUM_SHIFTS = np.arange(15, -1, -3, dtype=np.int64)  # six octal digits, most significant first
_HEADER = np.dtype({"names": ["name", "magic"], "formats": ["S100", "<u4"], "offsets": [0, 257], "itemsize": BLOCK})
_USTA = int.from_bytes(b"usta", "little")
_REGULAR_ARRAY = np.frombuffer(b"".join(REGULAR), np.uint8)
_SKIPPED_ARRAY = np.frombuffer(b"".join(SKIPPED), np.uint8)
_OCTAL_PLACES = 8 ** np.arange(10, -1, -1, dtype=np.int64)


class ExtendedHeader(Exception):
    """A header this scanner does not interpret; the caller falls back to tarfile."""


def _octal(field: bytes) -> int:
    text = field.rstrip(b"\0 ").strip()
    if not text:
        return 0
    if field[0] & 0x80:  # GNU base-256 sizes for members over 8 GiB
        raise ExtendedHeader("base-256 number")
    try:
        return int(text, 8)
    except ValueError:
        raise tarfile.ReadError(f"bad number in tar header: {field!r}") from None


def _size(data: bytes, offset: int) -> int:
    if data[offset + 135] in (0, 32):  # the usual 11 digits and a terminator
        try:
            return int(data[offset + 124 : offset + 135], 8)
        except ValueError:
            pass
    return _octal(data[offset + 124 : offset + 136])


def check_header_checksums(data: bytes, headers: list[int]) -> None:
    """Every header's stored checksum (octal, bytes 148-155) against the sum of its bytes
    with the checksum field counted as spaces; one pass over all headers with NumPy."""
    if headers:
        blocks = np.frombuffer(data, np.uint8, count=len(data) // BLOCK * BLOCK).reshape(-1, BLOCK)
        offsets = np.asarray(headers, dtype=np.intp)
        check_checksums(np.take(blocks, offsets // BLOCK, axis=0), offsets)


def check_checksums(rows: np.ndarray, offsets: np.ndarray) -> None:
    """:func:`check_header_checksums` for header blocks already gathered (one per row)."""
    field = rows[:, 148:156]
    computed = rows.sum(axis=1, dtype=np.uint32).astype(np.int64) - field.sum(axis=1, dtype=np.int64) + 8 * 32
    written = (computed[:, None] >> _CHECKSUM_SHIFTS) & 7  # as tar writers write it: "%06o\0 "
    if np.array_equal(field[:, :6], written + 48) and (field[:, 6] == 0).all() and (field[:, 7] == 32).all():
        return
    stored = stored_octal(field)  # any other form of the number
    if not np.array_equal(stored, computed):
        bad = int(np.flatnonzero(stored != computed)[0])
        raise tarfile.ReadError(f"bad tar header checksum at byte {int(offsets[bad])}")


def stored_octal(field: np.ndarray) -> np.ndarray:
    """Each row's first run of octal digits (after optional spaces) as a number."""
    digits = field.astype(np.int64) - 48
    digit = (digits >= 0) & (digits <= 7)
    value = np.zeros(len(field), dtype=np.int64)
    ended = np.zeros(len(field), dtype=bool)
    started = np.zeros(len(field), dtype=bool)
    for column in range(field.shape[1]):
        here = digit[:, column] & ~ended
        value = np.where(here, value * 8 + digits[:, column], value)
        started |= digit[:, column]
        ended |= started & ~digit[:, column]
    return value


def walk_members(data: bytes | bytearray) -> tuple[list[bytes], list[int], list[int]]:
    """(names, content starts, sizes) of every regular file member, in order; every
    header's checksum checked. The loop body is inlined: it runs once per member."""
    names: list[bytes] = []
    starts: list[int] = []
    sizes: list[int] = []
    headers: list[int] = []
    offset, end = 0, len(data)
    try:
        while offset + BLOCK <= end:
            if not data[offset] and not data[offset : offset + BLOCK].strip(b"\0"):
                break  # end-of-archive blocks
            headers.append(offset)
            kind = data[offset + 156]
            if kind not in _REGULAR_CODES and kind not in _SKIPPED_CODES:
                raise ExtendedHeader(f"member type {bytes([kind])!r}")
            length = _size(data, offset)
            start = offset + BLOCK
            if start + length > end:
                raise tarfile.ReadError(f"member at byte {offset} runs past the end of the data")
            if kind in _REGULAR_CODES:
                stop = data.find(0, offset, offset + 100)
                name = data[offset : stop if stop >= 0 else offset + 100]
                if data[offset + 345] and data[offset + 257 : offset + 262] == b"ustar":
                    name = data[offset + 345 : offset + 500].split(b"\0", 1)[0] + b"/" + name
                names.append(bytes(name))
                starts.append(start)
                sizes.append(length)
            offset = start + -(-length // BLOCK) * BLOCK
    except (tarfile.ReadError, ExtendedHeader):
        check_header_checksums(data, headers)  # a damaged header says so first
        raise
    check_header_checksums(data, headers)
    if offset < end and data[offset:].strip(b"\0"):
        raise tarfile.ReadError("tar data ends inside a header")
    return names, starts, sizes

def index_ustar_members(data: bytes | bytearray) -> tuple[list[bytes], list[int], list[int]] | None:
    """What :func:`walk_members` gives, found with NumPy for the usual tar: every header
    ustar, no name prefix, sizes as 11 octal digits, no extended headers. The blocks that
    look like ustar headers must chain from the first block to the end-of-archive zeros,
    one member's size after the other; a block of member content that merely looks like
    a header breaks the chain. None when any of this does not hold (the walk decides)."""
    count = len(data) // BLOCK
    if not count:
        return None
    heads = np.flatnonzero(np.frombuffer(data, _HEADER, count=count)["magic"] == _USTA)
    if not len(heads) or heads[0] != 0:
        return None
    rows = np.take(np.frombuffer(data, np.uint8, count=count * BLOCK).reshape(count, BLOCK), heads, axis=0)
    digits = rows[:, 124:135].astype(np.int64) - 48
    if not (((digits >= 0) & (digits <= 7)).all() and np.isin(rows[:, 135], (0, 32)).all() and (rows[:, 261] == 114).all()):
        return None
    sizes = digits @ _OCTAL_PLACES
    ends = heads + 1 + (sizes + BLOCK - 1) // BLOCK
    end = int(ends[-1]) * BLOCK
    if not np.array_equal(ends[:-1], heads[1:]) or end > len(data) or data[end:].strip(b"\0"):
        return None
    regular = np.isin(rows[:, 156], _REGULAR_ARRAY)
    if rows[:, 345].any() or not (regular | np.isin(rows[:, 156], _SKIPPED_ARRAY)).all():
        return None
    check_checksums(rows, heads * BLOCK)
    names = np.frombuffer(data, _HEADER, count=count)["name"][heads[regular]].tolist()
    if b"\0" in b"/".join(names):  # NumPy cuts only trailing NULs; a name ends at the first
        return None
    return names, ((heads[regular] + 1) * BLOCK).tolist(), sizes[regular].tolist()


class MemberLayout:
    """The member names of a sample (extensions after the key), in tar order, and each
    one's position among them; shared by every sample with the same names."""

    __slots__ = ("names", "position", "keys")

    def __init__(self, names: tuple[bytes, ...]):
        self.position = {name.decode("utf-8"): i for i, name in enumerate(names)}  # a repeated name: the last wins
        self.names = tuple(self.position)
        self.keys = ("__key__", "__url__", *self.names)  # what iterating a sample gives


class ShardTable:
    """A shard's samples as positions in its bytes: ``keys[i]``, ``layouts[i]`` and the
    number of sample ``i``'s first member, whose content starts and sizes are in
    ``starts`` and ``sizes``. Member bytes are copied out when a sample is read, so a
    reader done with the shard may :meth:`release` its buffer for the next one."""

    __slots__ = ("data", "view", "where", "keys", "first", "layouts", "starts", "sizes")

    def __init__(self, data: bytes | bytearray, where: str, names: list[bytes], starts: list[int], sizes: list[int]):
        self.data, self.where, self.starts, self.sizes = data, where, starts, sizes
        self.view = memoryview(data)
        self.keys: list[str] = []
        self.first: list[int] = []
        self.layouts: list[MemberLayout] = []
        known: dict[tuple[bytes, ...], MemberLayout] = {}
        stem, extensions = None, []
        for number, name in enumerate(names):
            slash = name.rfind(b"/")
            key, _, extension = (name[slash + 1 :] if slash >= 0 else name).partition(b".")
            if key != stem:
                self._close(known, extensions)
                stem, extensions = key, []
                self.keys.append(key.decode("utf-8"))
                self.first.append(number)
            extensions.append(extension)
        self._close(known, extensions)

    def _close(self, known: dict[tuple[bytes, ...], MemberLayout], extensions: list[bytes]) -> None:
        if not self.keys or len(self.layouts) == len(self.keys):
            return
        names = tuple(extensions)
        layout = known.get(names)
        if layout is None:
            layout = known[names] = MemberLayout(names)
        self.layouts.append(layout)

    def __len__(self) -> int:
        return len(self.keys)

    def member(self, number: int) -> bytes:
        start = self.starts[number]
        return bytes(self.view[start : start + self.sizes[number]])  # a released table raises ValueError

    def release(self) -> bytes | bytearray:
        """The shard's buffer, to be reused; the table's samples can no longer be read."""
        self.view.release()
        return self.data

    def sample(self, number: int) -> "ShardSample":
        return ShardSample(self, number)

    def __iter__(self) -> Iterator["ShardSample"]:
        return (ShardSample(self, number) for number in range(len(self.keys)))


class ShardSample(Mapping):
    """One sample of a :class:`ShardTable` as the mapping a WebDataset reader yields:
    ``__key__``, ``__url__`` and member name -> bytes (sliced when asked for)."""

    __slots__ = ("table", "number")

    def __init__(self, table: ShardTable, number: int):
        self.table, self.number = table, number

    def __getitem__(self, name: str) -> Any:
        table = self.table
        if name == "__key__":
            return table.keys[self.number]
        if name == "__url__":
            return table.where
        return table.member(table.first[self.number] + table.layouts[self.number].position[name])

    def __contains__(self, name: object) -> bool:
        return name in self.table.layouts[self.number].position or name in ("__key__", "__url__")

    def __iter__(self) -> Iterator[str]:
        return iter(self.table.layouts[self.number].keys)

    def __len__(self) -> int:
        return 2 + len(self.table.layouts[self.number].names)


def scan_table(data: bytes | bytearray, where: str = "") -> ShardTable:
    """The shard's :class:`ShardTable` (through ``tarfile`` for tars with extended headers)."""
    if not data:
        raise tarfile.ReadError("empty file")
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    members = index_ustar_members(data)
    if members is None:
        try:
            members = walk_members(data)
        except ExtendedHeader:
            members = tarfile_members(data)
    return ShardTable(data, where, *members)


def tarfile_members(data: bytes) -> tuple[list[bytes], list[int], list[int]]:
    """What :func:`walk_members` gives, read by ``tarfile`` (pax and GNU headers)."""
    names: list[bytes] = []
    starts: list[int] = []
    sizes: list[int] = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        for member in archive:
            if member.isfile():
                names.append(member.name.encode("utf-8"))
                starts.append(member.offset_data)
                sizes.append(member.size)
    return names, starts, sizes


def scan_samples(data: bytes, where: str = "") -> list[dict[str, Any]]:
    """Samples grouped by key (consecutive members with the same stem) as dicts of bytes."""
    return [dict(sample) for sample in scan_table(data, where)]


def iter_tarfile_samples(data: bytes, where: str = "") -> Iterator[dict[str, Any]]:
    """The same grouping through ``tarfile`` alone (the reference the scanner is tested against)."""
    return stream_tar_samples(io.BytesIO(data), where)


def stream_tar_samples(handle: BinaryIO, where: str = "") -> Iterator[dict[str, Any]]:
    """Samples grouped by key, read through ``tarfile``'s stream mode from a file object:
    one sample in memory at a time, however big the tar."""
    current: dict[str, Any] | None = None
    with tarfile.open(fileobj=handle, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            key, _, extension = member.name.rsplit("/", 1)[-1].partition(".")
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key, "__url__": where}
            current[extension] = archive.extractfile(member).read()
    if current is not None:
        yield current


def tar_keys(handle: BinaryIO, stream: bool = False) -> list[str]:
    """The sample keys of a tar, in order, from its headers (data skipped with seeks, or
    read past with ``stream``, for a handle that cannot seek or must see every byte)."""
    keys: list[str] = []
    with tarfile.open(fileobj=handle, mode="r|" if stream else "r:") as archive:
        for member in archive:
            key = member.name.rsplit("/", 1)[-1].partition(".")[0]
            if member.isfile() and (not keys or keys[-1] != key):
                keys.append(key)
    return keys
