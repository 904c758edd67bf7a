"""Monolingual readers on real fortunes, as plain generators and as Beam file sources."""
from __future__ import annotations

import bz2
import gzip
import json
import lzma

import pytest

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.pipelines.jobs.config import JobConfig
from babelshard.pipelines.text.beam import read_source, relative_name
from babelshard.pipelines.text.config import Cc100Source, JsonlSource, WikipediaSource
from babelshard.pipelines.text.readers import read_cc100, read_jsonl, read_wikipedia
from babelshard.stats import Drop


def cc100_bytes(documents: list[list[str]]) -> bytes:
    return "".join("".join(line + "\n" for line in doc) + "\n" for doc in documents).encode("utf-8")


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def test_cc100_reader_yields_every_line_and_skips_document_breaks(fortunes):
    paragraphs = fortunes("de", 40)
    documents = [paragraphs[i : i + 4] for i in range(0, len(paragraphs), 4)]
    source = Cc100Source(name="cc-de", format="cc100", language="de", paths=["x"])
    records = list(read_cc100(lines_of(cc100_bytes(documents)), source, "de.txt"))
    assert [r.text for r in records] == paragraphs
    assert {r.language for r in records} == {"de"} and {r.source for r in records} == {"cc-de"}
    assert len({r.key for r in records}) == len(records)


def test_keys_are_stable_and_depend_on_file_and_line(fortunes):
    data = cc100_bytes([fortunes("it", 10)])
    source = Cc100Source(name="cc-it", format="cc100", language="it", paths=["x"])
    first = [r.key for r in read_cc100(lines_of(data), source, "a.txt")]
    assert first == [r.key for r in read_cc100(lines_of(data), source, "a.txt")]
    assert not set(first) & {r.key for r in read_cc100(lines_of(data), source, "b.txt")}


def test_invalid_utf8_line_is_a_counted_drop(fortunes):
    good = fortunes("pl", 3)
    data = (good[0] + "\n").encode() + good[1].encode("cp1250") + b"\n" + (good[2] + "\n").encode()
    assert any(ord(ch) > 127 for ch in good[1]), "the test needs a Polish line with diacritics"
    source = Cc100Source(name="cc-pl", format="cc100", language="pl", paths=["x"])
    items = list(read_cc100(lines_of(data), source, "pl.txt"))
    assert [type(i).__name__ for i in items] == ["TextSample", "Drop", "TextSample"]
    assert items[1].reason == "invalid_utf8"


def test_wikipedia_reader_skips_doc_tags_and_titles(fortunes):
    paragraphs = fortunes("es", 6)
    lines = ['<doc id="1" url="https://es.wikipedia.org/wiki?curid=1" title="Vida">', "Vida", ""]
    lines += paragraphs[:3] + ["</doc>", '<doc id="2" title="Refranes">', "Refranes", ""] + paragraphs[3:] + ["</doc>"]
    source = WikipediaSource(name="wiki-es", format="wikipedia", language="es", paths=["x"])
    records = list(read_wikipedia(lines_of("\n".join(lines).encode() + b"\n"), source, "AA/wiki_00"))
    assert [r.text for r in records] == paragraphs


def test_wikipedia_reader_without_doc_tags_keeps_every_paragraph(fortunes):
    paragraphs = fortunes("ru", 5)
    source = WikipediaSource(name="wiki-ru", format="wikipedia", language="ru", paths=["x"])
    data = "\n\n".join(paragraphs).encode() + b"\n"
    assert [r.text for r in read_wikipedia(lines_of(data), source, "ru.txt")] == paragraphs


def test_jsonl_reader_nested_field_id_and_malformed_lines(fortunes):
    paragraphs = fortunes("de", 4)
    rows = [json.dumps({"meta": {"id": i}, "doc": {"body": p}}, ensure_ascii=False) for i, p in enumerate(paragraphs)]
    rows.insert(2, "{not json")
    rows.insert(3, json.dumps({"doc": {"title": "kein Text"}, "meta": {"id": 99}}))
    source = JsonlSource(name="j", format="jsonl", language="de", paths=["x"], text_field="doc.body", id_field="meta.id")
    items = list(read_jsonl(lines_of("\n".join(rows).encode()), source, "de.jsonl"))
    texts = [i.text for i in items if not isinstance(i, Drop)]
    drops = [i for i in items if isinstance(i, Drop)]
    assert texts == paragraphs
    assert [d.reason for d in drops] == ["malformed", "malformed"]
    # the id field, not the line, makes the key: reordering lines keeps keys
    reordered = list(read_jsonl(lines_of("\n".join(reversed(rows)).encode()), source, "de.jsonl"))
    assert {i.key for i in items if not isinstance(i, Drop) and i.text} <= {i.key for i in reordered}


def test_relative_name_is_relative_to_the_pattern_base():
    assert relative_name("/data/cc100/de/part-1.txt.xz", ["/data/cc100/*/part-*.txt.xz"]) == "de/part-1.txt.xz"
    assert relative_name("gs://b/wiki/AA/wiki_00", ["gs://b/wiki/**"]) == "AA/wiki_00"
    assert relative_name("/x/one.txt", ["/x/one.txt"]) == "one.txt"


def test_beam_file_source_reads_compressed_and_plain_files_with_a_glob(tmp_path, fortunes):
    zstandard = pytest.importorskip("zstandard")
    paragraphs = fortunes("it", 50)
    parts = [paragraphs[:10], paragraphs[10:20], paragraphs[20:30], paragraphs[30:40], paragraphs[40:]]
    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "a.txt.xz").write_bytes(lzma.compress(cc100_bytes([parts[0]])))
    (tmp_path / "it" / "b.txt.gz").write_bytes(gzip.compress(cc100_bytes([parts[1][:5], parts[1][5:]])))
    (tmp_path / "it" / "c.txt").write_bytes(cc100_bytes([parts[2]]))
    (tmp_path / "it" / "d.txt.bz2").write_bytes(bz2.compress(cc100_bytes([parts[3]])))
    (tmp_path / "it" / "e.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(cc100_bytes([parts[4]])))
    source = Cc100Source(name="cc-it", format="cc100", language="it", paths=[str(tmp_path / "it" / "*.txt*")])
    with TestPipeline() as pipeline:
        read = pipeline | read_source(source, read_cc100)
        assert_that(read.main | beam.Map(lambda r: r.text), equal_to(paragraphs), label="texts")
        assert_that(read.drops, equal_to([]), label="drops")


def test_text_config_rejects_keys_of_another_format():
    from babelshard.configbase import ConfigError, parse_config

    data = {
        "output": {"folder": "/tmp/x"},
        "text": {"sources": [{"name": "a", "format": "cc100", "language": "de", "paths": ["a"], "text_field": "t"}]},
    }
    with pytest.raises(ConfigError, match="text.sources.0.cc100.text_field"):
        parse_config(JobConfig, data)
    data["text"]["sources"][0]["format"] = "jsonl"
    assert parse_config(JobConfig, data).text.sources[0].text_field == "t"


@pytest.mark.parametrize("block_size", [1, 7, 64, 1 << 16])
def test_block_line_splitting_matches_readline(fortunes, block_size):
    """``iter_lines`` cuts lines out of blocks: lines that span blocks, CRLF, blank lines and
    a last line without a newline come out as ``readline`` gives them, minus the ``\\n``."""
    import io

    from babelshard.pipelines.text.beam import iter_lines

    text = "\n".join(fortunes("ru", 5)) + "\r\n\n\n" + "\n".join(fortunes("pl", 3)) + "\nlast line, no newline"
    data = text.encode("utf-8")
    expected = [line.removesuffix(b"\n") for line in iter(io.BytesIO(data).readline, b"")]
    assert list(iter_lines(io.BytesIO(data), block_size)) == expected
    assert list(iter_lines(io.BytesIO(data + b"\n"), block_size)) == expected
    assert list(iter_lines(io.BytesIO(b""), block_size)) == []
