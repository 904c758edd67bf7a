"""FreeDict dictd dictionaries from Debian: reading, sense filtering, counted skips."""
from __future__ import annotations

import gzip
from collections import defaultdict

import pytest

from babelshard.codeswitch.lexicons.dictd import decode_number, iter_entries, iter_index
from babelshard.codeswitch.lexicons.freedict import import_freedict, languages_from_filename, parse_entry, parse_headword
from babelshard.codeswitch.lexfile import LexiconError
from babelshard.stats import StageStats


def _letters(term: str) -> str:
    """dictd indexes headwords without punctuation ("achilles heel"): compare letters only."""
    return "".join(ch for ch in term.casefold() if ch.isalnum())


def _index_headwords(path: str) -> set[str]:
    with open(path, encoding="utf-8") as handle:
        return {_letters(line.split("\t", 1)[0]) for line in handle}


def test_eng_fra_pairs_are_real_entries_with_counted_skips(eng_fra):
    stats = StageStats()
    pairs = import_freedict(eng_fra, stats=stats)
    assert {(p.source_language, p.target_language) for p in pairs} == {("en", "fr")}
    assert len(pairs) == stats.outputs and len(pairs) > 10_000
    headwords = _index_headwords(eng_fra)
    assert all(_letters(p.source_term) in headwords for p in pairs)
    assert len({(p.source_term, p.target_term) for p in pairs}) == len(pairs)  # aggregated, no duplicates
    by_term = defaultdict(set)
    for pair in pairs:
        by_term[pair.source_term].add(pair.target_term)
    assert "chien" in by_term["dog"] and "maison" in by_term["house"]
    assert stats.inputs >= len(by_term)
    assert all(reason.startswith("freedict/") for reason in stats.drops)
    assert not any("etw." in p.target_term or "…" in p.target_term for p in pairs)


def test_technical_senses_dropped_when_a_general_sense_exists(deu_subset):
    stats = StageStats()
    pairs = import_freedict(deu_subset, "en", "de", stats=stats)
    dog = {p.target_term: p.score for p in pairs if p.source_term == "dog"}
    assert "Hund" in dog and "Bock" not in dog  # "Bock [techn.]": dog has a general sense
    assert dog["Hund"] == max(dog.values())  # the sense with usage examples scores highest
    computer = {p.target_term for p in pairs if p.source_term == "computer"}
    assert computer, "a headword whose senses are all technical keeps them"
    assert stats.drops["freedict/technical_sense"] > 0
    assert not any(p.target_term.startswith(("der ", "die ", "das ")) for p in pairs)


def test_abbreviation_headwords_and_bracketed_targets(deu_subset):
    pairs = import_freedict(deu_subset, "en", "de")
    heads = {p.source_term for p in pairs}
    assert "Board of Trade" in heads and not any("(" in h or "/" in h for h in heads)
    assert not any(ch in p.target_term for p in pairs for ch in "()<>[]{}")


def test_broken_multiword_entries_of_eng_spa_are_skipped(eng_spa):
    stats = StageStats()
    pairs = import_freedict(eng_spa, stats=stats)
    house = {p.target_term for p in pairs if p.source_term == "house"}
    assert "casa" in house
    # "house /haustʃɑːdʒ/" is "house charge" cut to its first word: its "servicio" is no translation of "house"
    assert "servicio" not in house and "iglesia" not in house
    assert not any("CruzRoja" == p.target_term for p in pairs)
    assert stats.drops["freedict/broken_multiword"] > 100


def test_parse_headword_and_entry_forms():
    assert parse_headword("dog /dˈɒɡ/") == ("dog", "dˈɒɡ")
    assert parse_headword("Board of Trade /bˈɔːd ɒv tɹˈeɪd/ (BOT /bˈɒt/)")[0] == "Board of Trade"
    assert parse_headword("car <n>") == ("car", "")
    assert parse_headword("cat (it's raining cats and dogs)")[0].startswith("cat (")  # aside kept: marks it malformed
    senses = parse_entry('abide /əbaid/\n1. attendre\n2. soutenir, supporter\n')
    assert [s.targets for s in senses] == [("attendre",), ("soutenir", "supporter")]
    tagged = parse_entry('dog /dˈɒɡ/\nBock <masc>, Auflagebock <masc> [techn.]\n   Synonym: {trestle}\n')
    assert tagged[0].tags == frozenset({"techn."}) and tagged[0].targets == ("Bock", "Auflagebock")


def test_dictd_index_numbers_and_bad_lines(tmp_path, deu_subset):
    assert decode_number("B") == 1 and decode_number("BA") == 64
    with pytest.raises(ValueError):
        decode_number("*")
    bad = tmp_path / "freedict-eng-deu.index"
    good_lines = open(deu_subset, encoding="utf-8").read().splitlines()
    bad.write_text("\n".join(good_lines[:3] + ["no tabs here", "dog\t*\tB", "dog\tBA\tZZZZZZ"]) + "\n", encoding="utf-8")
    (tmp_path / "freedict-eng-deu.dict.dz").write_bytes(open(deu_subset[: -len(".index")] + ".dict.dz", "rb").read())
    stats = StageStats()
    entries = list(iter_entries(str(bad), stats))
    assert len(entries) == len({tuple(line.split("\t")[1:]) for line in good_lines[:3]})
    assert stats.drops["dictd/malformed_index_line"] == 2 and stats.drops["dictd/entry_out_of_range"] == 1


def test_missing_and_empty_dictionaries(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .*dict.dz"):
        (tmp_path / "freedict-eng-deu.index").write_text("dog\tA\tB\n")
        import_freedict(str(tmp_path / "freedict-eng-deu.index"))
    empty = tmp_path / "empty" / "freedict-eng-fra.index"
    empty.parent.mkdir()
    empty.write_text("")
    with gzip.open(str(empty)[: -len(".index")] + ".dict.dz", "wb") as handle:
        handle.write(b"")
    with pytest.raises(LexiconError, match="no dictionary entries"):
        import_freedict(str(empty))
    with pytest.raises(FileNotFoundError):
        list(iter_index(str(tmp_path / "nothing.index"), StageStats()))


def test_languages_from_file_names():
    assert languages_from_filename("/usr/share/dictd/freedict-eng-deu.index") == ("en", "de")
    assert languages_from_filename("freedict-eng-ces.index") == ("en", "cs")
    with pytest.raises(LexiconError, match="cannot tell the languages"):
        languages_from_filename("mydict.index")


@pytest.mark.slow
def test_whole_eng_deu_is_over_300k_pairs(eng_deu):
    stats = StageStats()
    pairs = import_freedict(eng_deu, stats=stats)
    assert len(pairs) > 300_000
    assert stats.inputs > 400_000 and stats.dropped < stats.inputs
