"""The hybrid vocabulary on the 14-language emoji captions: split, ids, tokenizer, storage."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from babelshard.shards.reader import iter_records
from babelshard.vocab.config import FastTextConfig, HybridConfig
from babelshard.vocab.corpus import write_corpora
from babelshard.vocab.counts import VocabError, count_tokens
from babelshard.vocab.hybrid import HybridVocab
from babelshard.vocab.hybrid_build import build_hybrid, language_transforms, split_frequent
from babelshard.vocab.vectors import WordVectors, train_fasttext

LANGS = frozenset({"en", "de", "fr", "ja"})
CONFIG = HybridConfig(min_count=3, num_shared=150, seed=0, backend="sklearn")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, emoji_caption_folder):
    work = tmp_path_factory.mktemp("hybrid")
    counts = count_tokens(iter_records(emoji_caption_folder), languages=LANGS)
    corpora = write_corpora(iter_records(emoji_caption_folder), str(work), languages=LANGS)
    settings = FastTextConfig(dim=16, epoch=5, min_count=1, bucket=20000)
    paths = {lang: str(work / f"{lang}.bin") for lang in LANGS}
    vectors = {lang: train_fasttext(corpora[lang].tokens_path, lang, settings, paths[lang]) for lang in LANGS}
    return counts, vectors, paths


@pytest.fixture(scope="module")
def vocab(inputs):
    counts, vectors, paths = inputs
    return build_hybrid(counts, vectors, language_transforms(vectors, {}, None), CONFIG, fasttext_paths=paths)


def test_frequent_words_keep_their_own_token_rare_words_share(vocab, inputs):
    counts = inputs[0]
    assert vocab.num_tokens == len(CONFIG.special_tokens) + vocab.num_language_specific + 150
    for lang in LANGS:
        start, end = vocab.language_ranges[lang]
        own = {w for w, i in vocab.word_ids[lang].items() if start <= i < end}
        assert own == {w for w, c in counts[lang].items() if c >= 3}
        assert all(vocab.is_shared(vocab.word_ids[lang][w]) for w, c in counts[lang].items() if c < 3)
        assert all(vocab.token_language(i) == lang for i in range(start, end))
    ranges = sorted(vocab.language_ranges.values())
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no gaps
    params = vocab.parameter_counts()
    assert params["hybrid"] == vocab.num_tokens * 16 and params["hybrid"] < params["per_word_per_language"]


def test_top_k_per_language():
    counts = Counter({"a": 5, "b": 5, "c": 2, "d": 1})
    assert split_frequent(counts, None, 2) == (["a", "b"], ["c", "d"])
    assert split_frequent(counts, 2, None) == (["a", "b", "c"], ["d"])


def test_round_trip_through_decode(vocab, emoji_names):
    checked = 0
    for item in emoji_names[::20]:
        for lang in ("en", "de", "ja"):
            ids = vocab.encode(item.names[lang], lang)
            assert vocab.unk_id not in ids
            assert vocab.encode(vocab.decode(ids, lang), lang) == ids
            if not any(vocab.is_shared(i) for i in ids):  # all frequent words: the exact text comes back
                assert vocab.tokenize(vocab.decode(ids, lang), lang) == vocab.tokenize(item.names[lang], lang)
                checked += 1
    assert checked > 20


def test_unseen_words_go_to_their_nearest_cluster_through_subwords(vocab, tmp_path):
    word = "grinsendeste"  # not a CLDR word; its n-grams are
    assert word not in vocab.word_ids["de"]
    token = vocab.token_id(word, "de")
    assert vocab.is_shared(token)
    point = vocab.transforms["de"].apply(vocab._fasttext("de").get_word_vector(word)[None, :])
    assert token - vocab.shared_offset == int(((vocab.centroids - point) ** 2).sum(1).argmin())
    vocab.save(str(tmp_path / "v"))
    without_vectors = HybridVocab.load(str(tmp_path / "v"))
    without_vectors.fasttext_paths = {}
    assert without_vectors.token_id(word, "de") == vocab.unk_id  # no fastText model: <unk>


def test_pickles_for_data_loader_workers(vocab):
    import pickle

    unseen = "grinsendeste"
    expected = vocab.encode(f"ein {unseen} hund", "de")  # loads the fastText model into the vocab
    copy = pickle.loads(pickle.dumps(vocab))
    assert copy.encode(f"ein {unseen} hund", "de") == expected


def test_save_load_keeps_every_mapping(vocab, tmp_path, emoji_names):
    vocab.save(str(tmp_path / "v"))
    loaded = HybridVocab.load(str(tmp_path / "v"))
    assert loaded.word_ids == vocab.word_ids and np.array_equal(loaded.centroids, vocab.centroids)
    assert (loaded.num_tokens, loaded.num_language_specific, loaded.num_shared) == (
        vocab.num_tokens, vocab.num_language_specific, vocab.num_shared)
    texts = [item.names["fr"] for item in emoji_names[::7]] + ["un mot inconnuissime"]
    assert [loaded.encode(t, "fr") for t in texts] == [vocab.encode(t, "fr") for t in texts]
    assert loaded.special_id("<mask>") == CONFIG.special_tokens.index("<mask>")


def test_same_seed_same_artifact(inputs, tmp_path):
    counts, vectors, paths = inputs
    for name in ("a", "b"):
        build_hybrid(counts, vectors, language_transforms(vectors, {}, None), CONFIG, fasttext_paths=paths).save(
            str(tmp_path / name))
    for member in ("words.tsv", "centroids.npy", "transforms.npz", "hybrid.json"):
        assert (tmp_path / "a" / member).read_bytes() == (tmp_path / "b" / member).read_bytes(), member


def test_bad_inputs_are_clear_errors(inputs, vocab):
    counts, vectors, _ = inputs
    transforms = language_transforms(vectors, {}, None)
    with pytest.raises(VocabError, match="no tokens: sw"):
        build_hybrid({**counts, "sw": Counter()}, vectors, transforms, CONFIG)
    with pytest.raises(VocabError, match="no word vectors for language"):
        build_hybrid(counts, {k: v for k, v in vectors.items() if k != "ja"}, transforms, CONFIG)
    narrow = WordVectors("ja", vectors["ja"].words, vectors["ja"].matrix[:, :8])
    with pytest.raises(VocabError, match="different dimensions"):
        build_hybrid(counts, {**vectors, "ja": narrow}, transforms, CONFIG)
    with pytest.raises(VocabError, match="lower hybrid.num_shared"):
        build_hybrid(counts, vectors, transforms, HybridConfig(min_count=3, num_shared=10**6))
    with pytest.raises(KeyError, match="not in this vocabulary"):
        vocab.encode("hola", "es")


def test_initial_embeddings_are_the_vectors_the_vocabulary_was_built_from(vocab, inputs, tmp_path):
    """Each own token starts at its word's fastText vector in the aligned space, each shared
    token at its cluster's centroid; stored in the artifact and rebuilt from the fastText
    models for artifacts written without them."""
    _, vectors, _ = inputs
    transforms = language_transforms(vectors, {}, None)
    matrix, has_vector = vocab.initial_embeddings()
    assert matrix.shape == (vocab.num_tokens, 16)
    assert not has_vector[: vocab.num_special].any() and has_vector[vocab.num_special:].all()
    for lang in LANGS:
        start, end = vocab.language_ranges[lang]
        own = sorted((i, w) for w, i in vocab.word_ids[lang].items() if start <= i < end)
        expected = transforms[lang].apply(np.stack([vectors[lang].vector(w) for _, w in own]))
        assert np.array_equal(matrix[start:end], expected), lang
    assert np.array_equal(matrix[vocab.shared_offset:], vocab.centroids)
    vocab.save(str(tmp_path / "v"))
    loaded = HybridVocab.load(str(tmp_path / "v"))
    assert np.array_equal(loaded.initial_embeddings()[0], matrix)
    (tmp_path / "v" / "vectors.npy").unlink()  # an artifact from before vectors.npy
    rebuilt = HybridVocab.load(str(tmp_path / "v")).initial_embeddings()[0]
    assert np.allclose(rebuilt, matrix, atol=1e-6)
