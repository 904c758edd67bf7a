"""fastText vectors (train, .bin, .vec) and the alignment's parts, with their error messages."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np
import pytest

from babelshard.vocab.align import Normalizer, align, precision_at_1, procrustes, split_lexicon
from babelshard.vocab.config import AlignmentConfig, FastTextConfig
from babelshard.vocab.counts import VocabError
from babelshard.vocab.lexicon import read_alignment_pairs
from babelshard.vocab.vectors import WordVectors, load_vectors, read_vec, train_fasttext, write_vec

SMALL = FastTextConfig(dim=16, epoch=5, min_count=1, bucket=20000, threads=1)


@pytest.fixture(scope="module")
def emoji_corpus(tmp_path_factory, emoji_names):
    """English CLDR names, one per line, tokenized as the build does it."""
    from babelshard.vocab.counts import text_tokens

    path = tmp_path_factory.mktemp("ft") / "en.txt"
    path.write_text("".join(" ".join(text_tokens(e.names["en"])) + "\n" for e in emoji_names), encoding="utf-8")
    return str(path)


def test_trained_vectors_cover_the_corpus_and_reload(emoji_corpus, tmp_path):
    vectors = train_fasttext(emoji_corpus, "en", SMALL, str(tmp_path / "en.bin"))
    assert vectors.dim == 16 and "face" in vectors.index and "</s>" not in vectors.index
    counts = Counter(open(emoji_corpus, encoding="utf-8").read().split())
    assert counts[vectors.words[0]] == counts.most_common(1)[0][1]  # most frequent first, as fastText orders them
    again = load_vectors(str(tmp_path / "en.bin"), "en")
    assert again.words == vectors.words and np.allclose(again.matrix, vectors.matrix)
    unseen = again.vector("facepalms")  # not a CLDR word: built from character n-grams
    assert unseen is not None and "facepalms" not in again.index


def test_single_thread_training_is_reproducible(emoji_corpus, tmp_path):
    first = train_fasttext(emoji_corpus, "en", SMALL, str(tmp_path / "a.bin"))
    second = train_fasttext(emoji_corpus, "en", SMALL, str(tmp_path / "b.bin"))
    assert first.words == second.words and np.array_equal(first.matrix, second.matrix)


def test_vec_round_trip_and_bad_vec_files(tmp_path):
    vectors = WordVectors("xx", ["a", "b", "c"], np.arange(12, dtype=np.float32).reshape(3, 4))
    write_vec(vectors, str(tmp_path / "x.vec"))
    back = read_vec(str(tmp_path / "x.vec"), "xx")
    assert back.words == vectors.words and np.allclose(back.matrix, vectors.matrix)
    assert read_vec(str(tmp_path / "x.vec"), "xx", max_words=2).words == ["a", "b"]
    (tmp_path / "bad.vec").write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
    with pytest.raises(VocabError, match=r"bad.vec:3: 2 values, expected dimension 3"):
        read_vec(str(tmp_path / "bad.vec"), "xx")
    (tmp_path / "empty.vec").write_text("", encoding="utf-8")
    with pytest.raises(VocabError, match="no vectors"):
        read_vec(str(tmp_path / "empty.vec"), "xx")
    with pytest.raises(VocabError, match="no text to train"):
        train_fasttext(str(tmp_path / "empty.vec"), "xx", SMALL, str(tmp_path / "x.bin"))


def test_procrustes_recovers_a_rotation():
    rng = np.random.default_rng(1)
    source = rng.standard_normal((200, 8)).astype(np.float32)
    rotation = np.linalg.qr(rng.standard_normal((8, 8)))[0].astype(np.float32)
    found = procrustes(source, source @ rotation + 0.01 * rng.standard_normal((200, 8)).astype(np.float32))
    assert np.allclose(found, rotation, atol=0.01)
    assert np.allclose(found @ found.T, np.eye(8), atol=1e-5)


def _rotated_language(seed: int = 0, words: int = 400, dim: int = 12):
    """A 'language' whose vectors are a rotated, noisy copy of another's (a known answer)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((words, dim)).astype(np.float32)
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    english = WordVectors("en", [f"w{i}" for i in range(words)], base)
    other = WordVectors("xx", [f"x{i}" for i in range(words)], base @ rotation.T + 0.05 * rng.standard_normal((words, dim)).astype(np.float32))
    return other, english, [(f"x{i}", f"w{i}") for i in range(words)]


def test_alignment_with_refinement_keeps_held_out_words_out():
    other, english, pairs = _rotated_language()
    config = AlignmentConfig(test_size=100, refine_iterations=2, refine_max_rank=400, seed=1)
    result = align(other, english, pairs[:250] + pairs[300:], config)  # 50 words have no pair at all
    assert result.test_words == 100 and len(result.history) == 3
    assert result.precision_at_1 > 0.95 and result.precision_at_1_csls > 0.95
    held = {other.index[w] for w in result.held_out}
    split = split_lexicon(sorted({(other.index[a], english.index[b]) for a, b in pairs[:250] + pairs[300:]}), 0, 100, 1)
    assert held == set(split.test) and not held & set(split.train[:, 0].tolist())


def test_precision_is_chance_without_alignment():
    other, english, pairs = _rotated_language(seed=2)
    test = {i: frozenset({i}) for i in range(400)}
    src, tgt = Normalizer.fit(other.matrix).apply(other.matrix), Normalizer.fit(english.matrix).apply(english.matrix)
    assert precision_at_1(src, tgt, test, None) < 0.05  # the rotation hides the answer


def test_bad_alignment_inputs_are_clear_errors(tmp_path):
    other, english, pairs = _rotated_language()
    narrow = WordVectors("xx", other.words, other.matrix[:, :6])
    config = AlignmentConfig()
    with pytest.raises(VocabError, match=r"xx \(6-d\) onto en \(12-d\): vectors of different dimensions"):
        align(narrow, english, pairs, config)
    with pytest.raises(VocabError, match="none of the 2 lexicon pairs has both words"):
        align(other, english, [("hund", "dog"), ("katze", "cat")], config)
    with pytest.raises(VocabError, match="empty"):
        align(other, english, [], config)
    with pytest.raises(VocabError, match="no word vectors"):
        WordVectors("xx", [], np.zeros((0, 4), np.float32))
    (tmp_path / "pairs.tsv").write_text("dog\thund\ncat katze\nbroken\n", encoding="utf-8")
    with pytest.raises(VocabError, match=r"pairs.tsv:3: expected"):
        read_alignment_pairs(str(tmp_path / "pairs.tsv"), "de", "en")


def test_tsv_lexicon_pairs_are_case_folded_single_words(tmp_path):
    (tmp_path / "pairs.tsv").write_text("# en\tde\nDog\tHund\ncat\tKatze\nice cream\tEis\n", encoding="utf-8")
    assert read_alignment_pairs(str(tmp_path / "pairs.tsv"), "de", "en") == [("hund", "dog"), ("katze", "cat")]
    assert read_alignment_pairs(str(tmp_path / "pairs.tsv"), "de", "en", lowercase=False)[0] == ("Hund", "Dog")


def test_freedict_and_parquet_lexicons_through_the_codeswitch_readers(tmp_path):
    fra = "/usr/share/dictd/freedict-eng-fra.index"
    if not os.path.exists(fra):
        pytest.skip("needs the Debian package dict-freedict-eng-fra")
    pairs = read_alignment_pairs(fra, "fr", "en")
    assert ("chien", "dog") in pairs and all(" " not in a + b for a, b in pairs)
    from babelshard.codeswitch.lexicons.freedict import import_freedict
    from babelshard.codeswitch.lexfile import pairs_to_table, write_lexicon

    write_lexicon(pairs_to_table(import_freedict(fra)), str(tmp_path / "lex.parquet"))
    assert read_alignment_pairs(str(tmp_path / "lex.parquet"), "fr", "en") == pairs
    with pytest.raises(VocabError, match="not en-de"):
        read_alignment_pairs(fra, "de", "en")
