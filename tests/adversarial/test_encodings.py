"""Caption files with bytes that are not UTF-8: a bad row is a counted ``bad_encoding``
drop naming its file and line, the other rows go on; a file that is not UTF-8 text at
all is a one-line error naming the file and what it looks like; a UTF-8 byte-order mark
is never part of the first row, whatever the column order."""
from __future__ import annotations

import json

import pytest

from babelshard.pipelines.captions.checks import check_source_files
from babelshard.pipelines.captions.sources import SourceFileError, parse_file

BAD = b"\xff\xfe"  # never valid in UTF-8


def test_tsv_row_with_invalid_bytes_is_one_drop_with_file_and_line(tmp_path, read_sources, make_source):
    path = tmp_path / "cc3m.tsv"
    path.write_bytes(b"a dog\thttp://x/1.jpg\nbad " + BAD + b" caption\thttp://x/2.jpg\na cat\thttp://x/3.jpg\n")
    records, drops = read_sources([make_source(name="cc", format="tsv", path=str(path), columns=["caption", "url"])])
    assert [r[0] for r in records] == ["http://x/1.jpg", "http://x/3.jpg"]
    assert drops == [("bad_encoding", f"{path} line 2: invalid UTF-8 at byte 4: bad \ufffd\ufffd caption\thttp://x/2.jpg")]


def test_jsonl_rows_with_invalid_bytes_nul_bytes_and_lone_surrogates(tmp_path, read_sources, make_source):
    lines = [
        json.dumps({"url": "http://x/1.jpg", "caption": "fine"}).encode(),
        b'{"url": "http://x/2.jpg", "caption": "bad ' + BAD + b'"}',
        b'{"url": "http://x/3.jpg", "caption": "nul \x00 byte"}',
        b'{"url": "http://x/4.jpg", "caption": "escaped \\ud800 surrogate"}',
    ]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, drops = read_sources([make_source(name="j", format="jsonl", path=str(path))])
    assert [r[0] for r in records] == ["http://x/1.jpg"]
    assert sorted(d[0] for d in drops) == ["bad_encoding"] * 3
    details = sorted(d[1] for d in drops)
    assert details == sorted([
        "caption en is not valid UTF-8 text",  # valid bytes, but the JSON escape makes a lone surrogate
        f"{path} line 2: invalid UTF-8 at byte {lines[1].index(BAD)}: " + lines[1].decode("utf-8", "replace"),
        f"{path} line 3: a NUL byte: " + lines[2].decode().replace("\0", "\ufffd"),
    ])


def test_csv_row_with_invalid_bytes_keeps_the_others(tmp_path, read_sources, make_source):
    path = tmp_path / "t.csv"
    path.write_bytes(b'url,caption\nhttp://x/1.jpg,"one,\nline two"\nhttp://x/2.jpg,bad ' + BAD + b"\nhttp://x/3.jpg,three\n")
    records, drops = read_sources([make_source(name="c", format="csv", path=str(path))])
    assert [r[0] for r in records] == ["http://x/1.jpg", "http://x/3.jpg"]
    assert drops == [("bad_encoding", f"{path} line 4: invalid UTF-8: http://x/2.jpg,bad \ufffd\ufffd")]


def test_aligned_and_flickr_rows_with_invalid_bytes(tmp_path, read_sources, make_source):
    (tmp_path / "images.txt").write_bytes(b"1.jpg\n2.jpg\n")
    (tmp_path / "en.txt").write_bytes(b"a dog\nbad " + BAD + b"\n")
    (tmp_path / "results.token").write_bytes(b"9.jpg#0\tfine\n8.jpg#0\tbad " + BAD + b"\n")
    aligned = make_source(name="m", format="aligned", path=str(tmp_path / "images.txt"),
                          captions={"en": str(tmp_path / "en.txt")}, image_root="http://f/")
    flickr = make_source(name="f", format="flickr_token", path=str(tmp_path / "results.token"), image_root="http://g/")
    records, drops = read_sources([aligned, flickr])
    assert [r[0] for r in records] == ["http://f/1.jpg", "http://g/9.jpg"]
    assert drops == [("bad_encoding", "caption en is not valid UTF-8 text")] * 2


@pytest.mark.parametrize(
    "fmt, first_row, expected_url",
    [
        ("tsv-url-first", b"http://x/1.jpg\tfirst", "http://x/1.jpg"),
        ("tsv-caption-first", b"first\thttp://x/1.jpg", "http://x/1.jpg"),
        ("jsonl", b'{"url": "http://x/1.jpg", "caption": "first"}', "http://x/1.jpg"),
        ("csv", b"url,caption\nhttp://x/1.jpg,first", "http://x/1.jpg"),
    ],
)
def test_a_utf8_bom_is_not_part_of_the_first_row(tmp_path, read_sources, make_source, fmt, first_row, expected_url):
    path = tmp_path / f"bom.{fmt.split('-')[0]}"
    path.write_bytes(b"\xef\xbb\xbf" + first_row + b"\n")
    columns = {"tsv-url-first": ["url", "caption"], "tsv-caption-first": ["caption", "url"]}.get(fmt)
    fields = {"columns": columns} if columns else {}
    records, drops = read_sources([make_source(name="b", format=fmt.split("-")[0], path=str(path), **fields)])
    assert (records, drops) == ([[expected_url, {"en": "first"}, {}]], [])


@pytest.mark.parametrize(
    "data, looks_like",
    [
        ("url\tcaption\nhttp://x/1.jpg\tone\n".encode("utf-16"), "UTF-16LE (byte-order mark)"),
        ("url\tcaption\nhttp://x/1.jpg\tone\n".encode("utf-16-le"), "UTF-16LE (no byte-order mark)"),
        ("url\tcaption\nhttp://x/1.jpg\tone\n".encode("utf-16-be"), "UTF-16BE (no byte-order mark)"),
        ("url\tcaption\n".encode("utf-32"), "UTF-32LE (byte-order mark)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "binary (NUL bytes)"),
    ],
)
@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "csv", "coco", "flickr_token"])
def test_a_file_that_is_not_utf8_text_is_one_error_naming_it(tmp_path, make_source, data, looks_like, fmt):
    path = tmp_path / "captions.txt"
    path.write_bytes(data)
    fields = {"columns": ["url", "caption"]} if fmt == "tsv" else {}
    src = make_source(name="s", format=fmt, path=str(path), **fields)
    with pytest.raises(SourceFileError) as built:
        check_source_files([src])  # when the job is built
    assert str(built.value) == f"source s: {path} is not UTF-8 text: it looks like {looks_like}; convert it to UTF-8"
    if fmt in ("csv", "coco", "flickr_token"):  # and again by the worker that reads the whole file
        with pytest.raises(SourceFileError, match="is not UTF-8 text"):
            list(parse_file(str(path), data, src))


def test_a_latin1_file_is_dropped_row_by_row_not_refused(tmp_path, read_sources, make_source):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("http://x/1.jpg\tcafé crème\nhttp://x/2.jpg\tplain\n".encode("latin-1"))
    records, drops = read_sources([make_source(name="l", format="tsv", path=str(path), columns=["url", "caption"])])
    assert [r[0] for r in records] == ["http://x/2.jpg"]
    assert [d[0] for d in drops] == ["bad_encoding"]


def test_line_numbers_hold_across_split_reads(tmp_path, read_sources, make_source):
    """A file big enough to be read in several byte ranges: each bad line keeps its own number."""
    lines = [f"caption {i}\thttp://x/{i}.jpg".encode() for i in range(40_000)]
    bad = {7, 12_345, 39_999}
    for i in bad:
        lines[i] = b"bad " + BAD + b"\thttp://x/%d.jpg" % i
    path = tmp_path / "big.tsv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, drops = read_sources([make_source(name="big", format="tsv", path=str(path), columns=["caption", "url"])])
    assert len(records) == 40_000 - len(bad)
    assert sorted(int(d[1].split(" line ")[1].split(":")[0]) for d in drops) == sorted(i + 1 for i in bad)
