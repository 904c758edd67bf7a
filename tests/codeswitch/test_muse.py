"""MUSE `src tgt` dictionaries: real pairs, malformed lines, empty files, language codes."""
from __future__ import annotations

import pytest

from babelshard.codeswitch.languages import UnknownLanguageError
from babelshard.codeswitch.lexfile import LexiconError
from babelshard.codeswitch.lexicons.muse import import_muse, languages_from_filename
from babelshard.stats import StageStats


def _single_word_pairs(pairs):
    return [(p.source_term, p.target_term) for p in pairs if " " not in p.source_term and " " not in p.target_term]


def test_muse_file_of_real_pairs_with_bad_lines(tmp_path, fra_pairs):
    good = _single_word_pairs(fra_pairs)[:500]
    lines = [f"{s} {t}" for s, t in good] + [f"{s}\t{t}" for s, t in good[:20]]  # tabs too; repeats add up
    bad = ["onlyoneword", "three words here", ""]
    path = tmp_path / "en-fr.txt"
    path.write_bytes(("\n".join(lines + bad) + "\n").encode("utf-8") + b"caf\xe9 broken\n")
    stats = StageStats()
    pairs = import_muse(str(path), stats=stats)
    assert {(p.source_term, p.target_term) for p in pairs} == set(good)
    assert {p.target_language for p in pairs} == {"fr"} and {p.origin for p in pairs} == {"muse:en-fr.txt"}
    scores = {(p.source_term, p.target_term): p.score for p in pairs}
    assert all(scores[pair] == 1.0 + (pair in set(good[:20])) for pair in set(good))
    assert stats.drops == {"muse/malformed_line": 2, "muse/not_utf8": 1}
    assert stats.inputs == len(lines) + 3 and stats.outputs == len(set(good))


def test_empty_or_all_malformed_muse_files_are_clear_errors(tmp_path):
    empty = tmp_path / "en-de.txt"
    empty.write_text("")
    with pytest.raises(LexiconError, match="no `source target` lines"):
        import_muse(str(empty))
    junk = tmp_path / "en-es.txt"
    junk.write_text("a b c\nd e f\n")
    with pytest.raises(LexiconError, match="malformed_line"):
        import_muse(str(junk))
    with pytest.raises(FileNotFoundError):
        import_muse(str(tmp_path / "en-it.txt"))


def test_language_codes_from_names_and_arguments(tmp_path, fra_pairs):
    assert languages_from_filename("en-de.0-5000.txt") == ("en", "de")
    assert languages_from_filename("/x/eng-deu.txt") == ("en", "de")
    odd = tmp_path / "dictionary.txt"
    odd.write_text("dog chien\n")
    with pytest.raises(LexiconError, match="give them explicitly"):
        import_muse(str(odd))
    assert import_muse(str(odd), "eng", "fre")[0].target_language == "fr"
    with pytest.raises(UnknownLanguageError, match="unknown language code 'xx'"):
        import_muse(str(odd), "en", "xx")
    with pytest.raises(UnknownLanguageError):
        languages_from_filename("en-qqq.txt")
