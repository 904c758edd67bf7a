"""PanLex CSV dump import on a zip in the dump's table layout, built from real FreeDict pairs."""
from __future__ import annotations

import zipfile
from collections import defaultdict

import pytest

from babelshard.codeswitch.languages import UnknownLanguageError
from babelshard.codeswitch.lexfile import LexiconError, import_metadata, read_lexicon
from babelshard.codeswitch.lexicons.panlex import PanlexOptions, import_panlex
from babelshard.codeswitch.testing import PanlexSource, build_panlex_zip
from babelshard.stats import StageStats

CODES = {"fra": "fr", "spa": "es", "deu": "de"}


def _triples(pairs, uid):
    return [(p.source_term, uid, p.target_term) for p in pairs]


@pytest.fixture(scope="module")
def sources(fra_pairs, deu_subset, eng_spa_pairs):
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    deu = import_freedict(deu_subset, "en", "de")
    return [
        PanlexSource("freedict-fra", 5, _triples(fra_pairs[:2000], "fra-000")),
        PanlexSource("spa-and-fra", 7, _triples(eng_spa_pairs[:600], "spa-000") + _triples(fra_pairs[:300], "fra-000")),
        PanlexSource("deu-two-varieties", 3, _triples(deu, "deu-000") + _triples(deu, "deu-001")),
        PanlexSource("bogus-code", 9, _triples(eng_spa_pairs[:50], "xxx-000")),
        PanlexSource("other-english", 2, _triples(fra_pairs[2000:2100], "fra-000"), english_variety="eng-001"),
    ]


@pytest.fixture(scope="module")
def eng_spa_pairs():
    from babelshard.codeswitch.lexicons.freedict import import_freedict
    from babelshard.testing import require_debian

    require_debian("/usr/share/dictd/freedict-eng-spa.index", "dict-freedict-eng-spa")
    return import_freedict("/usr/share/dictd/freedict-eng-spa.index")


@pytest.fixture(scope="module")
def dump(tmp_path_factory, sources) -> str:
    path = str(tmp_path_factory.mktemp("panlex") / "panlex-20240101-csv.zip")
    build_panlex_zip(path, sources)
    return path


def expected_pairs(sources, languages=None, english=None) -> dict[tuple[str, str, str], float]:
    """Independently of the importer: quality summed over the distinct sources giving a pair."""
    given = defaultdict(dict)
    for number, source in enumerate(sources):
        for term, uid, target in source.pairs:
            lang = CODES.get(uid.split("-")[0])
            if lang and (languages is None or lang in languages) and (english is None or source.english_variety in english):
                given[(term, lang, target)][number] = source.quality
    return {key: float(sum(qualities.values())) for key, qualities in given.items()}


def _imported(path: str) -> dict[tuple[str, str, str], float]:
    table = read_lexicon(path)
    assert set(table["source_language"].to_pylist()) == {"en"} and set(table["origin"].to_pylist()) == {"panlex"}
    rows = zip(*(table[c].to_pylist() for c in ("source_term", "target_language", "target_term", "score")))
    return {(s, lang, t): score for s, lang, t, score in rows}


def test_pairs_and_scores_match_the_dump(dump, sources, tmp_path):
    stats = StageStats()
    kept = import_panlex(dump, str(tmp_path / "lex.parquet"), PanlexOptions(partitions=3, block_size=1 << 14), stats)
    assert kept == ["de", "es", "fr"]
    assert _imported(str(tmp_path / "lex.parquet")) == expected_pairs(sources)
    assert stats.drops["panlex/unknown_language_variety"] == 1  # xxx-000
    link_drops = stats.dropped - stats.drops["panlex/unknown_language_variety"]
    assert stats.inputs == stats.outputs + link_drops + stats.counters["merged_links"]
    assert import_metadata(str(tmp_path / "lex.parquet"))["stats"]["outputs"] == stats.outputs


def test_top_languages_explicit_languages_and_english_varieties(dump, sources, tmp_path):
    stats = StageStats()
    assert import_panlex(dump, str(tmp_path / "top1.parquet"), PanlexOptions(top_languages=1, partitions=2), stats) == ["fr"]
    assert _imported(str(tmp_path / "top1.parquet")) == expected_pairs(sources, {"fr"})
    assert stats.drops["panlex/language_not_selected"] > 0
    assert import_panlex(dump, str(tmp_path / "de.parquet"), PanlexOptions(languages=("deu",))) == ["de"]
    assert _imported(str(tmp_path / "de.parquet")) == expected_pairs(sources, {"de"})
    options = PanlexOptions(source_varieties=("eng-001",), partitions=2)
    import_panlex(dump, str(tmp_path / "eng001.parquet"), options)
    assert _imported(str(tmp_path / "eng001.parquet")) == expected_pairs(sources, english={"eng-001"})
    with pytest.raises(UnknownLanguageError):
        import_panlex(dump, str(tmp_path / "x.parquet"), PanlexOptions(languages=("klingonish",)))


def test_partitioning_does_not_change_the_output(dump, tmp_path):
    import_panlex(dump, str(tmp_path / "one.parquet"), PanlexOptions(partitions=1))
    import_panlex(dump, str(tmp_path / "many.parquet"), PanlexOptions(partitions=7, block_size=4096))
    one, many = read_lexicon(str(tmp_path / "one.parquet")), read_lexicon(str(tmp_path / "many.parquet"))
    order = [(c, "ascending") for c in ("target_language", "source_term", "target_term")]
    assert one.sort_by(order).equals(many.sort_by(order))


def _rewrite(dump: str, out: str, table: str, edit) -> str:
    with zipfile.ZipFile(dump) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith(f"/{table}.csv"):
                data = edit(data)
            if data is not None:
                target.writestr(info.filename, data)
    return out


def test_bad_dumps_give_clear_errors_or_counted_skips(dump, tmp_path):
    malformed = _rewrite(dump, str(tmp_path / "malformed.zip"), "denotation", lambda data: data + b"1,2\n7,8,9,10\n")
    stats = StageStats()
    import_panlex(malformed, str(tmp_path / "ok.parquet"), PanlexOptions(partitions=2), stats)
    assert stats.drops["panlex/malformed_row/denotation"] == 2
    orphaned = _rewrite(dump, str(tmp_path / "orphaned.zip"), "meaning", lambda data: b"\n".join(data.split(b"\n")[:-6]) + b"\n")
    stats = StageStats()
    import_panlex(orphaned, str(tmp_path / "orphaned.parquet"), PanlexOptions(partitions=2), stats)
    assert stats.drops["panlex/meaning_without_source"] >= 5  # the last five meanings lost their source row
    links_dropped = stats.dropped - stats.drops["panlex/unknown_language_variety"]
    assert stats.inputs == stats.outputs + links_dropped + stats.counters["merged_links"]
    missing = _rewrite(dump, str(tmp_path / "missing.zip"), "meaning", lambda data: None)
    with pytest.raises(LexiconError, match=r"missing tables \['meaning'\]"):
        import_panlex(missing, str(tmp_path / "x.parquet"))
    wrong = _rewrite(dump, str(tmp_path / "wrong.zip"), "expr", lambda data: data.replace(b"id,langvar", b"xid,langvar", 1))
    with pytest.raises(LexiconError, match="table expr"):
        import_panlex(wrong, str(tmp_path / "x.parquet"))
    (tmp_path / "not.zip").write_bytes(b"not a zip")
    with pytest.raises(LexiconError, match="not a zip"):
        import_panlex(str(tmp_path / "not.zip"), str(tmp_path / "x.parquet"))
    with pytest.raises(FileNotFoundError):
        import_panlex(str(tmp_path / "absent.zip"), str(tmp_path / "x.parquet"))


def test_a_dump_without_english_pairs_is_an_error(tmp_path, fra_pairs):
    path = str(tmp_path / "no-english.zip")
    build_panlex_zip(path, [PanlexSource("fra-only", 5, _triples(fra_pairs[:20], "fra-000"), english_variety="deu-000")])
    with pytest.raises(LexiconError, match="no English"):
        import_panlex(path, str(tmp_path / "x.parquet"))
    assert not (tmp_path / "x.parquet").exists()
