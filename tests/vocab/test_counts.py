"""Token counts: the Beam transform against the plain function, on real shards."""
from __future__ import annotations

import os
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from babelshard.shards.reader import iter_records
from babelshard.textnorm import tokenize_words
from babelshard.vocab.beam import CountTokens, ReadShards
from babelshard.vocab.config import CountsConfig, VocabBeamConfig
from babelshard.vocab.counts import (
    VocabError, count_tokens, list_shards, read_all_counts, record_token_counts, shard_folders, text_tokens,
)


def test_every_caption_language_is_counted_with_the_shared_tokenization(emoji_caption_folder, emoji_names):
    counts = count_tokens(iter_records(emoji_caption_folder))
    assert sorted(counts) == sorted(emoji_names[0].names)
    for lang in ("en", "de", "ja"):
        expected = Counter(t.casefold() for item in emoji_names for t in tokenize_words(item.names[lang]))
        assert counts[lang] == expected


def test_beam_count_equals_the_plain_count(emoji_caption_folder):
    refs = list_shards([emoji_caption_folder])
    assert len(refs) > 1  # several shards, read in parallel
    expected = count_tokens(iter_records(emoji_caption_folder), languages=frozenset({"fr", "zh"}))
    rows = [((lang, token), n) for lang, counter in expected.items() for token, n in counter.items()]
    with TestPipeline() as pipeline:
        counted = (pipeline | beam.Create(refs) | ReadShards()
                   | CountTokens(languages=["fr", "zh"]))
        assert_that(counted, equal_to(rows))


def test_count_pipeline_writes_one_sorted_file_per_language(tmp_path, emoji_caption_folder, fortune_root):
    from babelshard.vocab.beam import run_count_pipeline

    inputs = [emoji_caption_folder, os.path.join(fortune_root, "text", "es")]  # captions and text together
    run_count_pipeline(list_shards(inputs), str(tmp_path), VocabBeamConfig(), CountsConfig(), ["de", "es"])
    written = read_all_counts(str(tmp_path))
    records = [r for folder in shard_folders(inputs) for r in iter_records(folder)]
    assert written == count_tokens(records, languages=frozenset({"de", "es"}))
    assert written["es"]["que"] > written["es"]["autobús"] > 0  # fortunes and captions both counted
    lines = (tmp_path / "counts" / "de.tsv").read_text(encoding="utf-8").splitlines()
    values = [int(line.split("\t")[1]) for line in lines]
    assert values == sorted(values, reverse=True)


def test_english_counts_agree_with_wordfreq(fortune_root):
    wordfreq = pytest.importorskip("wordfreq")
    counts = count_tokens(iter_records(os.path.join(fortune_root, "text", "en")), CountsConfig(include_punctuation=False))["en"]
    top = [word for word, _ in counts.most_common(30)]
    zipf = [wordfreq.zipf_frequency(word, "en") for word in top]
    assert sum(z >= 5.0 for z in zipf) >= 20, list(zip(top, zipf))  # common English words
    # rank agreement over the 300 most frequent words (Spearman, no scipy needed)
    words = [word for word, _ in counts.most_common(300)]
    ours = _ranks([-counts[w] for w in words])
    theirs = _ranks([-wordfreq.word_frequency(w, "en") for w in words])
    n = len(words)
    rho = 1 - 6 * sum((a - b) ** 2 for a, b in zip(ours, theirs)) / (n * (n * n - 1))
    assert rho > 0.4


def _ranks(values):
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0] * len(values)
    for rank, index in enumerate(order):
        ranks[index] = rank
    return ranks


def test_tokens_follow_the_config():
    assert text_tokens("The Bus, the BUS!", lowercase=True) == ["the", "bus", ",", "the", "bus", "!"]
    assert text_tokens("The Bus, the BUS!", lowercase=False, include_punctuation=False) == ["The", "Bus", "the", "BUS"]


def test_record_counts_are_per_language(emoji_names):
    from babelshard.records import Caption, CaptionSample

    record = CaptionSample("k", "s", "u", {"en": Caption("red apple red"), "de": Caption("roter Apfel", "mt")})
    assert record_token_counts(record) == [(("de", "apfel"), 1), (("de", "roter"), 1), (("en", "apple"), 1), (("en", "red"), 2)]


def test_a_folder_without_shards_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(VocabError, match="neither a shard folder"):
        shard_folders([str(tmp_path / "empty")])
    with pytest.raises(VocabError, match="no such folder"):
        shard_folders([str(tmp_path / "missing")])
