"""Parallel readers on Django's catalogues: .po checked against the compiled .mo that
Django ships; TSV, WikiMatrix, Moses and TMX files built from the same real pairs."""
from __future__ import annotations

import gettext
import glob
import gzip
import os
import xml.etree.ElementTree as ET

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.pipelines.text.parallel_readers import moses_target_path, read_moses, read_po, read_tmx, read_tsv
from babelshard.pipelines.text.beam import read_source
from babelshard.pipelines.text.config import MosesSource, PoSource, TmxSource, TsvPairSource, WikiMatrixSource
from babelshard.stats import Drop


def split_items(items):
    items = list(items)
    pairs = [i for i in items if not isinstance(i, Drop)]
    return pairs, [i for i in items if isinstance(i, Drop)]


def mo_singulars(mo_path: str) -> dict[str, str]:
    """msgid (with context) -> singular translation, from the compiled catalogue."""
    with open(mo_path, "rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    out = {}
    for key, value in catalog.items():
        if isinstance(key, tuple):
            if key[1] == 0:
                out[key[0]] = value
        elif key:
            out[key] = value
    return out


def po_pairs(path: str, language: str):
    source = PoSource(name=f"django-{language}", format="po", target_language=language, paths=[path])
    with open(path, "rb") as handle:
        return split_items(read_po(handle, source, os.path.basename(path)))


@pytest.mark.parametrize("language", ["de", "ja", "ru", "zh_Hans", "ar"])
def test_po_reader_agrees_with_the_compiled_mo(django_locale, po_path, language):
    path = po_path(language)
    pairs, drops = po_pairs(path, language)
    expected = mo_singulars(path[:-3] + ".mo")
    # context entries are keyed "ctxt\x04msgid" in .mo; compare on msgid/msgstr pairs
    got = sorted((p.source_text, p.target_text) for p in pairs)
    want = sorted((k.split("\x04")[-1], v) for k, v in expected.items())
    assert got == want
    assert all(p.source_language == "en" and p.target_language == language for p in pairs)
    assert len({p.key for p in pairs}) == len(pairs)  # msgctxt keeps "May" (month) apart from "May" (short)


def test_po_reader_counts_untranslated_fuzzy_and_obsolete(django_locale, po_path, tmp_path):
    # Django's English catalogue is real and untranslated: every message is a drop.
    pairs, drops = po_pairs(po_path("en"), "en_GB")
    assert not pairs and drops and {d.reason for d in drops} == {"untranslated"}
    # Mark real German entries fuzzy and obsolete as translators' tools do.
    text = open(po_path("de"), encoding="utf-8").read()
    blocks = text.split("\n\n")
    blocks[3] = "#, fuzzy\n" + blocks[3]
    blocks[4] = "\n".join("#~ " + line for line in blocks[4].splitlines())
    edited = tmp_path / "de.po"
    edited.write_text("\n\n".join(blocks), encoding="utf-8")
    before, before_drops = po_pairs(po_path("de"), "de")
    after, drops = po_pairs(str(edited), "de")
    assert sorted(d.reason for d in drops) == sorted([d.reason for d in before_drops] + ["fuzzy", "obsolete"])
    assert len(after) == len(before) - 2
    source = PoSource(name="d", format="po", target_language="de", paths=["x"], include_fuzzy=True)
    with open(edited, "rb") as handle:
        with_fuzzy, _ = split_items(read_po(handle, source, "de.po"))
    assert len(with_fuzzy) == len(before) - 1


def django_pairs(po_path, language: str, limit: int = 60):
    pairs, _ = po_pairs(po_path(language), language)
    return [(p.source_text, p.target_text) for p in pairs if "\n" not in p.source_text + p.target_text][:limit]


def test_tsv_and_wikimatrix_readers(po_path):
    pairs = django_pairs(po_path, "fr")
    rows = [f"{1.0 + i / 100:.2f}\t{en}\t{fr}" for i, (en, fr) in enumerate(pairs)]
    rows.insert(5, "1.07\tonly one side")
    rows.insert(9, "high\tYes\tOui")
    data = ("\n".join(rows) + "\n").encode()
    wm = WikiMatrixSource(name="wm", format="wikimatrix", source_language="en", target_language="fr", paths=["x"])
    got, drops = split_items(read_tsv(data.splitlines(keepends=True), wm, "WikiMatrix.en-fr.tsv"))
    assert [(p.source_text, p.target_text) for p in got] == pairs
    assert [p.score for p in got] == [round(1.0 + i / 100, 2) for i in range(len(pairs))]
    assert [d.reason for d in drops] == ["malformed", "malformed"]
    # Plain TSV: target first, a header line, no score.
    tsv = "fr\ten\n" + "".join(f"{fr}\t{en}\n" for en, fr in pairs)
    source = TsvPairSource(
        name="t", format="tsv", source_language="en", target_language="fr", paths=["x"],
        source_column=1, target_column=0, skip_header=True,
    )
    got, drops = split_items(read_tsv(tsv.encode().splitlines(keepends=True), source, "en-fr.tsv"))
    assert [(p.source_text, p.target_text, p.score) for p in got] == [(en, fr, None) for en, fr in pairs] and not drops


def test_moses_target_path_follows_opus_naming():
    assert moses_target_path("/o/OpenSubtitles.de-en.de", "de", "en") == "/o/OpenSubtitles.de-en.en"
    assert moses_target_path("gs://o/x.en-ja.en.gz", "en", "ja") == "gs://o/x.en-ja.ja.gz"
    with pytest.raises(ValueError, match="must end in .en"):
        moses_target_path("/o/x.txt", "en", "ja")


def test_moses_reader_keeps_alignment_and_counts_unaligned_lines(po_path):
    pairs = django_pairs(po_path, "ja")
    src = [(en + "\n").encode() for en, _ in pairs]
    tgt = [(ja + "\n").encode() for _, ja in pairs]
    source = MosesSource(name="m", format="moses", source_language="en", target_language="ja", paths=["x"])
    got, drops = split_items(read_moses(src, tgt, source, "x.en"))
    assert [(p.source_text, p.target_text) for p in got] == pairs and not drops
    got, drops = split_items(read_moses(src, tgt[:-3], source, "x.en"))
    assert [(p.source_text, p.target_text) for p in got] == pairs[:-3]
    assert [d.reason for d in drops] == ["unaligned"] * 3


def test_invalid_utf8_in_po_and_moses_is_a_counted_drop(po_path, tmp_path):
    pairs = django_pairs(po_path, "pl")
    polish = next(i for i, (_, pl) in enumerate(pairs) if any(ord(c) > 127 for c in pl))
    src = [(en + "\n").encode() for en, _ in pairs]
    tgt = [(pl + "\n").encode() for _, pl in pairs]
    tgt[polish] = (pairs[polish][1] + "\n").encode("cp1250")
    source = MosesSource(name="m", format="moses", source_language="en", target_language="pl", paths=["x"])
    got, drops = split_items(read_moses(src, tgt, source, "x.en"))
    assert len(got) == len(pairs) - 1 and [d.reason for d in drops] == ["invalid_utf8"]
    data = open(po_path("pl"), "rb").read()
    first = data.index(b'msgstr "', data.index(b'msgid "Arabic"'))
    line_end = data.index(b"\n", first)
    broken = data[:first] + data[first:line_end].decode().encode("cp1250", errors="replace") + b"\xff" + data[line_end:]
    (tmp_path / "pl.po").write_bytes(broken)
    before, _ = po_pairs(po_path("pl"), "pl")
    after, drops = po_pairs(str(tmp_path / "pl.po"), "pl")
    assert len(after) == len(before) - 1 and "invalid_utf8" in {d.reason for d in drops}


def test_moses_in_beam_reads_compressed_aligned_files(tmp_path, po_path):
    pairs = django_pairs(po_path, "ru", 200)
    (tmp_path / "Django.en-ru.en.gz").write_bytes(gzip.compress("".join(en + "\n" for en, _ in pairs).encode()))
    (tmp_path / "Django.en-ru.ru.gz").write_bytes(gzip.compress("".join(ru + "\n" for _, ru in pairs).encode()))
    source = MosesSource(
        name="m", format="moses", source_language="en", target_language="ru", paths=[str(tmp_path / "*.en.gz")]
    )
    with TestPipeline() as pipeline:
        read = pipeline | read_source(source, read_moses, "moses")
        assert_that(read.main | beam.Map(lambda p: (p.source_text, p.target_text)), equal_to(pairs), label="pairs")
        assert_that(read.drops, equal_to([]), label="drops")


def write_tmx(path, pairs, target_code: str) -> None:
    root = ET.Element("tmx", version="1.4")
    ET.SubElement(root, "header", srclang="en-US", segtype="sentence", datatype="plaintext")
    body = ET.SubElement(root, "body")
    lang = "{http://www.w3.org/XML/1998/namespace}lang"
    for number, (en, de) in enumerate(pairs):
        unit = ET.SubElement(body, "tu", tuid=str(number))
        for code, text in (("en-US", en), (target_code, de)):
            if number == 3 and code == target_code:
                continue  # a unit missing its German side
            seg = ET.SubElement(ET.SubElement(unit, "tuv", {lang: code}), "seg")
            if number == 5:  # inline markup: a native code to leave out, highlighted text to keep
                seg.text = "<"
                ph = ET.SubElement(seg, "ph")
                ph.text = "<b>"
                ph.tail = text
            else:
                seg.text = text
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def test_tmx_reader_matches_language_subtags_and_strips_native_codes(tmp_path, po_path):
    pairs = django_pairs(po_path, "de")
    write_tmx(tmp_path / "memory.tmx", pairs, "DE-de")
    source = TmxSource(name="tm", format="tmx", source_language="en", target_language="de", paths=["x"])
    with open(tmp_path / "memory.tmx", "rb") as handle:
        got, drops = split_items(read_tmx(handle, source, "memory.tmx"))
    expected = [(("<" + en) if i == 5 else en, ("<" + de) if i == 5 else de) for i, (en, de) in enumerate(pairs)]
    del expected[3]
    assert [(p.source_text, p.target_text) for p in got] == expected
    assert [d.reason for d in drops] == ["missing_side"]


def test_every_django_catalogue_parses(django_locale):
    """All ~100 languages of conf/ and contrib/admin/ agree with their .mo files."""
    paths = sorted(glob.glob(str(django_locale / "**" / "django.po"), recursive=True))
    assert len(paths) > 150
    for path in paths:
        language = path.split(os.sep)[-3]
        pairs, _ = po_pairs(path, language if language != "en" else "en_GB")
        want = sorted((k.split("\x04")[-1], v) for k, v in mo_singulars(path[:-3] + ".mo").items())
        assert sorted((p.source_text, p.target_text) for p in pairs) == want, path


def test_tmx_in_beam_streams_a_compressed_memory(tmp_path, po_path):
    pairs = django_pairs(po_path, "de", 40)
    write_tmx(tmp_path / "memory.tmx", pairs, "de")
    (tmp_path / "memory.tmx.gz").write_bytes(gzip.compress((tmp_path / "memory.tmx").read_bytes()))
    source = TmxSource(name="tm", format="tmx", source_language="en", target_language="de", paths=[str(tmp_path / "*.tmx.gz")])
    expected = [(("<" + en) if i == 5 else en, ("<" + de) if i == 5 else de) for i, (en, de) in enumerate(pairs) if i != 3]
    with TestPipeline() as pipeline:
        read = pipeline | read_source(source, read_tmx, "stream")
        assert_that(read.main | beam.Map(lambda p: (p.source_text, p.target_text)), equal_to(expected), label="pairs")
        assert_that(read.drops | beam.Map(lambda d: d.reason), equal_to(["missing_side"]), label="drops")
