"""Reading caption text files as bytes, so that a bad byte is one row's problem.

A :class:`Line` is one line's raw bytes with its file and byte offset (read by
``read.LineSource``): decoding happens per line, where an invalid byte becomes a
counted drop instead of a crash. Line numbers cost a scan from the start of the file,
so they are computed afterwards and only for the lines that need one
(:func:`line_numbers`). :func:`text_problem` tells a file that is not
UTF-8 text at all (UTF-16, UTF-32, binary) from one with a few bad bytes.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

from babelshard.fs import open_binary

UTF8_BOM = b"\xef\xbb\xbf"
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32LE (byte-order mark)"),
    (b"\x00\x00\xfe\xff", "UTF-32BE (byte-order mark)"),
    (b"\xff\xfe", "UTF-16LE (byte-order mark)"),
    (b"\xfe\xff", "UTF-16BE (byte-order mark)"),
)
SNIFF_BYTES = 4096


class Line(NamedTuple):
    path: str
    offset: int  # of the line's first byte in the (decompressed) file
    data: bytes  # without the line end


def text_problem(head: bytes) -> str | None:
    """Why the first bytes of a file say it is not UTF-8 text, or None.

    UTF-16 and UTF-32 with a byte-order mark, NUL bytes every other byte (UTF-16
    without one) and NUL bytes making more than 1/64 of the head (binary) are
    whole-file problems; stray invalid or NUL bytes are not (those rows are dropped
    one by one).
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if head.count(0) * 64 <= len(head):
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > len(odd) // 2 and even.count(0) == 0:
        return "UTF-16LE (no byte-order mark)"
    if even.count(0) > len(even) // 2 and odd.count(0) == 0:
        return "UTF-16BE (no byte-order mark)"
    return "binary (NUL bytes)"


def read_head(path: str) -> bytes:
    with open_binary(path, decompress=True) as handle:
        return handle.read(SNIFF_BYTES)


def line_numbers(path: str, offsets: Iterable[int]) -> dict[int, int]:
    """1-based line number of each byte offset (a line's first byte), in one scan."""
    numbers, line, position = {}, 1, 0
    with open_binary(path, decompress=True) as handle:
        for target in sorted(set(offsets)):
            while position < target:
                chunk = handle.read(min(1 << 20, target - position))
                if not chunk:
                    break
                line += chunk.count(b"\n")
                position += len(chunk)
            numbers[target] = line
    return numbers
