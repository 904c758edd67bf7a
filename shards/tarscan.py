"""Splitting an in-memory tar into WebDataset samples, fast.

A shard being read is already in memory; Python's ``tarfile`` spends most of a
loader's time building a ``TarInfo`` per member (a caption shard has ~16 members per
sample: image, json and a caption per language). This scanner reads the USTAR headers
directly (name, size, type, header checksum) and slices the member bytes. Tars with
extended headers (pax, GNU long names) fall back to ``tarfile``, which gives the same
samples in the same order.
"""
from __future__ import annotations

import io
import tarfile
from typing import Any, Iterator

BLOCK = 512
REGULAR = (b"0", b"\0", b"7")
SKIPPED = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, directories, fifos


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


def _checked(header: bytes, offset: int) -> None:
    stored = _octal(header[148:156])
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    if stored != computed:
        raise tarfile.ReadError(f"bad tar header checksum at byte {offset}")


def iter_members(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every regular file member, in order."""
    view, offset, size = memoryview(data), 0, len(data)
    while offset + BLOCK <= size:
        header = data[offset : offset + BLOCK]
        if not header.strip(b"\0"):
            return  # end-of-archive blocks
        _checked(header, offset)
        kind = header[156:157]
        if kind not in REGULAR and kind not in SKIPPED:
            raise ExtendedHeader(f"member type {kind!r}")
        length = _octal(header[124:136])
        start = offset + BLOCK
        if start + length > size:
            raise tarfile.ReadError(f"member at byte {offset} runs past the end of the data")
        if kind in REGULAR:
            name = header[0:100].split(b"\0", 1)[0]
            if header[257:262] == b"ustar":
                prefix = header[345:500].split(b"\0", 1)[0]
                name = prefix + b"/" + name if prefix else name
            yield name.decode("utf-8"), bytes(view[start : start + length])
        offset = start + -(-length // BLOCK) * BLOCK
    if offset < size and data[offset:].strip(b"\0"):
        raise tarfile.ReadError("tar data ends inside a header")


def scan_samples(data: bytes, where: str = "") -> list[dict[str, Any]]:
    """Samples grouped by key (consecutive members with the same stem), like the shard reader."""
    if not data:
        raise tarfile.ReadError("empty file")
    try:
        samples: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for name, content in iter_members(data):
            key, _, extension = name.rsplit("/", 1)[-1].partition(".")
            if current is None or current["__key__"] != key:
                current = {"__key__": key, "__url__": where}
                samples.append(current)
            current[extension] = content
        return samples
    except ExtendedHeader:
        return list(iter_tarfile_samples(data, where=where))


def iter_tarfile_samples(data: bytes, where: str = "") -> Iterator[dict[str, Any]]:
    """The same grouping through ``tarfile``, for tars with extended headers."""
    current: dict[str, Any] | None = None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
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
