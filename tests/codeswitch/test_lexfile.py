"""The normalized lexicon parquet: write, read, the reading API, stats, bad files."""
from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from babelshard.codeswitch.lexfile import (LexiconError, aggregate_pairs, import_metadata, lexicon_stats,
                                           load_lexicon_pairs, pairs_to_table, read_lexicon, write_lexicon)
from babelshard.stats import StageStats


@pytest.fixture(scope="module")
def lexicon_path(tmp_path_factory, fra_pairs, cldr_pairs) -> str:
    path = str(tmp_path_factory.mktemp("lexicon") / "lexicon.parquet")
    write_lexicon(aggregate_pairs(pairs_to_table(fra_pairs + cldr_pairs)), path, StageStats(inputs=7, outputs=3))
    return path


def test_round_trip_and_counts_per_language(lexicon_path, fra_pairs, cldr_pairs):
    table = read_lexicon(lexicon_path)
    assert table.num_rows == len(fra_pairs) + len(cldr_pairs)
    expected = Counter(p.target_language for p in fra_pairs + cldr_pairs)
    stats = {(row["target_language"], row["origin"]): row for row in lexicon_stats(lexicon_path).to_pylist()}
    assert sum(row["pairs"] for row in stats.values()) == table.num_rows
    for (lang, origin), row in stats.items():
        chosen = [p for p in fra_pairs + cldr_pairs if p.target_language == lang and p.origin == origin]
        assert row["pairs"] == len(chosen) and row["source_terms"] == len({p.source_term for p in chosen})
        assert row["multi_word_pairs"] == sum(" " in p.source_term for p in chosen)
    assert Counter(table["target_language"].to_pylist()) == expected
    assert import_metadata(lexicon_path)["stats"]["inputs"] == 7


def test_reading_api_for_one_language_pair(lexicon_path, fra_pairs):
    fr = read_lexicon(lexicon_path, ["fr"], "en")
    assert set(fr["target_language"].to_pylist()) == {"fr"}
    assert fr.num_rows > len(fra_pairs)  # FreeDict and CLDR both give French
    pairs = load_lexicon_pairs(lexicon_path, "fr")
    assert len(pairs) == fr.num_rows and ("dog", "chien", 1.0) in pairs
    for (s1, _, v1), (s2, _, v2) in zip(pairs, pairs[1:]):
        assert s1 < s2 or (s1 == s2 and v1 >= v2)  # by term, best score first
    single = load_lexicon_pairs(lexicon_path, "fr", single_words=True)
    assert single and all(" " not in s and " " not in t for s, t, _ in single)
    assert load_lexicon_pairs(lexicon_path, "sw") == []


def test_aggregation_sums_repeated_pairs():
    table = pairs_to_table([])
    assert aggregate_pairs(table).num_rows == 0
    rows = pa.table({"source_language": ["en"] * 3, "source_term": ["dog", "dog", "cat"], "target_language": ["de"] * 3,
                     "target_term": ["Hund", "Hund", "Katze"], "score": [1.0, 2.0, 1.0], "origin": ["x"] * 3})
    merged = aggregate_pairs(rows)
    assert merged.to_pylist()[1] == {"source_language": "en", "source_term": "dog", "target_language": "de",
                                     "target_term": "Hund", "score": 3.0, "origin": "x"}


def test_files_that_are_not_lexicons(tmp_path):
    with pytest.raises(FileNotFoundError, match="lexicon not found"):
        read_lexicon(str(tmp_path / "absent.parquet"))
    (tmp_path / "text.parquet").write_text("hello")
    with pytest.raises(LexiconError, match="not a parquet lexicon"):
        read_lexicon(str(tmp_path / "text.parquet"))
    pq.write_table(pa.table({"word": ["dog"]}), tmp_path / "other.parquet")
    with pytest.raises(LexiconError, match="missing columns"):
        read_lexicon(str(tmp_path / "other.parquet"))
