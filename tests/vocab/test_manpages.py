"""The whole build on real comparable text (English and German man pages) with the real
FreeDict English-German dictionary: alignment well above chance, translations sharing
clusters far more often than random pairs, and the artifact as the CLI shows it."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from babelshard.vocab.align import Normalizer, lexicon_rows, precision_at_1
from babelshard.vocab.hybrid import HybridVocab
from babelshard.vocab.lexicon import read_alignment_pairs
from babelshard.vocab.vectors import load_vectors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(manpage_build):
    with open(os.path.join(manpage_build, "vocab.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def dictionary(manpage_build):
    """FreeDict eng-deu's single-word pairs as the build read them (it saves what it used)."""
    return read_alignment_pairs(os.path.join(manpage_build, "alignment", "de.pairs.tsv"), "de", "en")


def test_alignment_is_far_above_chance_on_held_out_words(manpage_build, manifest, dictionary):
    report = manifest["alignment"]["de"]
    german = load_vectors(os.path.join(manpage_build, "fasttext", "de.bin"), "de")
    english = load_vectors(os.path.join(manpage_build, "fasttext", "en.bin"), "en")
    assert report["test_words"] >= 400 and report["train_pairs"] > 2000
    # Chance: a held-out word's translations among all English words; and a random rotation.
    chance = 1.5 / len(english.words)
    held = set(open(os.path.join(manpage_build, "alignment", "de.heldout.txt"), encoding="utf-8").read().split())
    assert len(held) == report["test_words"]
    rows, _ = lexicon_rows(dictionary, german, english)
    test = {i: frozenset(j for a, j in rows if a == i) for i in {german.index[w] for w in held}}
    src, tgt = Normalizer.fit(german.matrix).apply(german.matrix), Normalizer.fit(english.matrix).apply(english.matrix)
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((german.dim, german.dim)))[0].astype(np.float32)
    random_p1 = precision_at_1(src @ rotation, tgt, test, None)
    assert random_p1 <= 0.01  # an unaligned space is at chance level
    assert report["precision_at_1"] > 0.08 and report["precision_at_1_csls"] > 0.08  # ~0.2 measured
    assert report["precision_at_1_csls"] > 100 * chance


def test_translations_share_shared_clusters_far_more_than_random(manpage_build, dictionary):
    vocab = HybridVocab.load(manpage_build)
    held = open(os.path.join(manpage_build, "alignment", "de.heldout.txt"), encoding="utf-8").read().split()
    pairs = [(de, en) for de, en in dictionary
             if vocab.is_shared(vocab.word_ids["de"].get(de, -1)) and vocab.is_shared(vocab.word_ids["en"].get(en, -1))]
    held_pairs = [(de, en) for de, en in pairs if de in set(held)]
    assert len(pairs) > 1000 and len(held_pairs) > 50
    same = lambda ps: np.mean([vocab.word_ids["de"][d] == vocab.word_ids["en"][e] for d, e in ps])  # noqa: E731
    shuffled = list(zip([d for d, _ in pairs], np.random.default_rng(0).permutation([e for _, e in pairs])))
    assert same(held_pairs) > 8 * same(shuffled) and same(held_pairs) > 0.02  # measured: 0.064 vs 0.0033


def test_tokenizer_round_trip_and_unseen_words(manpage_build):
    vocab = HybridVocab.load(manpage_build)
    text = "Die Datei wird gelöscht, wenn der Benutzer es erlaubt."
    ids = vocab.encode(text, "de")
    assert vocab.unk_id not in ids
    assert vocab.encode(vocab.decode(ids, "de"), "de") == ids
    own = [i for i in ids if vocab.token_language(i) == "de"]
    words = vocab.tokenize(text, "de")
    assert own and [vocab.id_to_word(i, "de") for i in own] == [w for w in words if vocab.word_ids["de"].get(w) in own]
    unseen = "Datenbankverbindungsabbrüche"  # not in the man pages: its subword vector picks a cluster
    assert unseen not in vocab.word_ids["de"] and vocab.is_shared(vocab.token_id(unseen, "de"))


def test_show_prints_sizes_reduction_and_cross_language_clusters(manpage_build):
    from babelshard.cli import app

    result = CliRunner().invoke(app, ["vocab", "show", manpage_build, "-n", "3"])
    assert result.exit_code == 0, result.output
    vocab = HybridVocab.load(manpage_build)
    assert f"{vocab.num_tokens} tokens" in result.output and "fewer)" in result.output
    assert "alignment de->en: precision@1" in result.output
    cluster_lines = [line for line in result.output.splitlines() if line.strip().startswith("#")]
    assert len(cluster_lines) == 3 and all("de: " in line and "en: " in line for line in cluster_lines)
