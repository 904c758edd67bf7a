"""The in-memory tar scanner against Python's ``tarfile`` on tars written by ``tarfile``
itself in every header form it writes (ustar with a name prefix, GNU long names, pax),
with directories, links, repeated members, 100-character names, empty members and
members that fill whole blocks; damaged headers; and the shard table's in-place reads."""
from __future__ import annotations

import io
import tarfile

import pytest

from babelshard.shards.tarscan import iter_tarfile_samples, scan_samples, scan_table


def write_tar(members: list[tuple[str, bytes | None]], form: int = tarfile.USTAR_FORMAT, kind: bytes = tarfile.REGTYPE) -> bytes:
    """A tar of (name, content) members; content None: a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
                continue
            info.type = kind
            info.size = len(content)
            info.mtime = 1
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


MEMBERS = [
    ("dir", None),
    ("dir/a1.jpg", b"\xff\xd8 image"),
    ("dir/a1.txt", "caption ä".encode()),
    ("dir/a1.de.txt", b"Bildunterschrift"),
    ("a2.txt", b""),
    ("a2.json", b"{}"),
    ("a2.txt", b"the second txt of a2 wins"),
    ("b" * 96 + ".txt", b"x" * 512),  # a 100-character name: no terminating NUL in its field
    ("c3.npy", b"y" * 1024),
    ("c3.jpg", b"z" * 513),
]


@pytest.mark.parametrize("form", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_the_scanner_gives_tarfiles_samples(form):
    data = write_tar(MEMBERS, form)
    expected = list(iter_tarfile_samples(data, where="w"))
    assert scan_samples(data, where="w") == expected
    assert [s["__key__"] for s in expected] == ["a1", "a2", "b" * 96, "c3"]
    assert expected[1]["txt"] == b"the second txt of a2 wins"


def test_long_names_through_a_ustar_prefix_and_through_extended_headers():
    directory = "d" * 120
    members = [(f"{directory}/k1.txt", b"one"), (f"{directory}/k1.json", b"{}"), ("k2.txt", b"zwei")]
    ustar = write_tar(members, tarfile.USTAR_FORMAT)  # the directory goes to the header's prefix field
    gnu = write_tar([(f"{directory}/{'k' * 110}.txt", b"long")], tarfile.GNU_FORMAT)  # a GNU long-name member
    for data in (ustar, gnu):
        assert scan_samples(data) == list(iter_tarfile_samples(data))
    assert [s["__key__"] for s in scan_samples(ustar)] == ["k1", "k2"]


def test_contiguous_and_old_style_regular_members_are_read():
    for kind in (tarfile.CONTTYPE, tarfile.AREGTYPE):
        data = write_tar([("k.txt", b"text"), ("k.json", b"{}")], kind=kind)
        assert scan_samples(data) == [{"__key__": "k", "__url__": "", "txt": b"text", "json": b"{}"}]


def test_symlinks_and_hard_links_are_skipped():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, kind in (("k.lnk", tarfile.SYMTYPE), ("k.hard", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, "elsewhere"
            archive.addfile(info)
        info = tarfile.TarInfo("k.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    assert scan_samples(buffer.getvalue()) == [{"__key__": "k", "__url__": "", "txt": b"abc"}]


def test_a_damaged_header_is_a_read_error_naming_the_checksum():
    data = bytearray(write_tar(MEMBERS))
    second = 512  # the directory member has no content: the next header follows at once
    for where in (second + 5, second + 124, second + 156):  # the name, the size field, the type
        damaged = bytearray(data)
        damaged[where] ^= 0x11
        with pytest.raises(tarfile.ReadError, match=f"checksum at byte {second}"):
            scan_table(bytes(damaged))
    with pytest.raises(tarfile.ReadError, match="runs past the end"):
        scan_table(write_tar([("k.npy", b"n" * 2000)])[:1000])
    with pytest.raises(tarfile.ReadError, match="empty file"):
        scan_table(b"")


def test_the_shard_table_keeps_one_copy_and_shares_member_lists():
    members = [(f"k{i}.{ext}", f"{i}-{ext}".encode()) for i in range(5) for ext in ("jpg", "json", "txt")]
    data = write_tar(members)
    table = scan_table(data, where="shard.tar")
    assert table.data is data and len(table) == 5
    assert len({id(layout) for layout in table.layouts}) == 1  # like samples share one name -> position map
    sample = table.sample(3)
    assert sample["__key__"] == "k3" and sample["__url__"] == "shard.tar" and sample["txt"] == b"3-txt"
    assert "json" in sample and "png" not in sample and sample.get("png") is None
    assert list(sample) == ["__key__", "__url__", "jpg", "json", "txt"] and len(sample) == 5
    with pytest.raises(KeyError):
        sample["png"]
    assert table.release() is data  # the buffer back, for the next shard: its samples no longer read
    with pytest.raises(ValueError):
        sample["txt"]


def test_the_numpy_index_gives_the_walks_members_or_leaves_the_tar_to_it():
    from babelshard.shards.tarscan import index_ustar_members, walk_members

    plain = write_tar([(f"k{i}.{ext}", f"{i}-{ext}".encode() * (i + 1) * 40) for i in range(6) for ext in ("jpg", "txt")])
    nested = write_tar([("k1.tar", plain), ("k1.txt", b"a tar inside: its headers look like ustar headers")])
    assert index_ustar_members(plain) == walk_members(plain)  # the usual shard: found with NumPy
    assert index_ustar_members(nested) is None and len(walk_members(nested)[0]) == 2  # content blocks break the chain
    for form in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        data = write_tar(MEMBERS, form)
        found = index_ustar_members(data)
        assert found is None or found == walk_members(data), form
    prefixed = write_tar([(f"{'d' * 120}/k1.txt", b"one")])
    assert index_ustar_members(prefixed) is None and walk_members(prefixed)[0] == [f"{'d' * 120}/k1.txt".encode()]
    damaged = bytearray(plain)
    damaged[512 + 20] ^= 0x01  # inside the first member's content: no header changes
    assert index_ustar_members(bytes(damaged)) == walk_members(bytes(damaged))
    damaged[5] ^= 0x01  # the first header's name: its checksum no longer holds
    with pytest.raises(tarfile.ReadError, match="checksum at byte 0"):
        index_ustar_members(bytes(damaged))
