"""SentencePiece on a language-balanced sample of real text, CJK included."""
from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import pytest

from babelshard.shards.reader import iter_records
from babelshard.vocab.config import SentencePieceConfig
from babelshard.vocab.corpus import sample_line_numbers, sampling_weights, write_balanced_sample, write_corpora
from babelshard.vocab.counts import VocabError, shard_folders
from babelshard.vocab.spm import build_sentencepiece, load_sentencepiece

LANGS = frozenset({"en", "de", "ja", "zh"})


@pytest.fixture(scope="module")
def corpora(tmp_path_factory, emoji_caption_folder, fortune_root):
    folders = shard_folders([emoji_caption_folder, os.path.join(fortune_root, "text", "de")])
    records = (record for folder in folders for record in iter_records(folder))
    return write_corpora(records, str(tmp_path_factory.mktemp("corpora")), languages=LANGS)


def test_weights_follow_p_to_the_alpha():
    lines = {"en": 9000, "de": 900, "sw": 100}
    for alpha in (1.0, 0.5, 0.3):
        q = sampling_weights(lines, alpha)
        assert math.isclose(sum(q.values()), 1.0)
        assert math.isclose(q["en"] / q["sw"], (9000 / 100) ** alpha)
    assert sampling_weights(lines, 0.3)["sw"] > sampling_weights(lines, 1.0)["sw"]  # low-resource upsampled
    with pytest.raises(VocabError, match="no text: sw"):
        sampling_weights({"en": 10, "sw": 0}, 0.3)


def test_small_languages_are_repeated_not_invented():
    taken = sample_line_numbers(available=4, size=10, seed=0, lang="sw")
    assert sorted(Counter(taken.tolist()).values()) == [2, 2, 3, 3]
    again = sample_line_numbers(available=1000, size=10, seed=0, lang="sw")
    assert len(set(again.tolist())) == 10 and np.array_equal(again, sample_line_numbers(1000, 10, 0, "sw"))


def test_balanced_sample_has_every_language_in_proportion(corpora, tmp_path):
    path = str(tmp_path / "sample.txt")
    sizes = write_balanced_sample(corpora, 0.3, 20000, 0, path)
    assert set(sizes) == LANGS
    assert sum(1 for _ in open(path, encoding="utf-8")) == sum(sizes.values())
    lines = {lang: c.lines for lang, c in corpora.items()}
    biggest, smallest = max(lines, key=lines.get), min(lines, key=lines.get)
    share = lambda lang: sizes[lang] / lines[lang]  # noqa: E731
    assert share(smallest) > share(biggest)  # alpha < 1 favours the smaller language


def test_trained_model_covers_cjk_and_keeps_special_tokens(corpora, tmp_path, emoji_names):
    config = SentencePieceConfig(vocab_size=6000, character_coverage=1.0, user_defined_symbols=("<mask>", "<img>"),
                                 sample_sentences=40000)
    summary = build_sentencepiece(corpora, config, str(tmp_path / "spm"), str(tmp_path))
    assert summary["languages"]["ja"]["sampled"] > 0 and summary["vocab_size"] <= 6000
    processor = load_sentencepiece(str(tmp_path / "spm"))
    for item in emoji_names[::10]:
        for lang in ("ja", "zh", "de"):
            ids = processor.encode(item.names[lang])  # every caption line is in the sample: full coverage
            assert processor.unk_id() not in ids and processor.decode(ids) == item.names[lang]
    pieces = processor.encode("a <mask> over <img>", out_type=str)
    assert "<mask>" in pieces and "<img>" in pieces


def test_byte_fallback_spells_every_character(corpora, tmp_path, emoji_names):
    config = SentencePieceConfig(vocab_size=3000, byte_fallback=True, sample_sentences=15000)  # coverage 0.9995
    build_sentencepiece(corpora, config, str(tmp_path / "spm"), str(tmp_path))
    processor = load_sentencepiece(str(tmp_path / "spm"))
    for item in emoji_names[::25]:
        for lang in ("ja", "zh"):
            ids = processor.encode(item.names[lang])
            assert processor.unk_id() not in ids and processor.decode(ids) == item.names[lang]


def test_training_is_deterministic(corpora, tmp_path):
    config = SentencePieceConfig(vocab_size=3000, model_type="bpe", sample_sentences=15000, seed=3)
    models = []
    for name in ("a", "b"):
        (tmp_path / f"work-{name}").mkdir()
        build_sentencepiece(corpora, config, str(tmp_path / name), str(tmp_path / f"work-{name}"))
        processor = load_sentencepiece(str(tmp_path / name))
        models.append([(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())])
    assert models[0] == models[1]
    for member in ("spm.model", "spm.vocab"):  # no file path of the run is recorded in them
        assert (tmp_path / "a" / member).read_bytes() == (tmp_path / "b" / member).read_bytes()
    pieces = (tmp_path / "a" / "spm.vocab").read_text(encoding="utf-8").splitlines()
    assert len(pieces) == len(models[0]) and pieces[0] == "<unk>\t0"


def test_a_user_model_is_copied_and_recorded(corpora, tmp_path):
    config = SentencePieceConfig(vocab_size=3000, sample_sentences=15000)
    build_sentencepiece(corpora, config, str(tmp_path / "theirs"), str(tmp_path))
    user = SentencePieceConfig(model_path=str(tmp_path / "theirs" / "spm.model"))
    summary = build_sentencepiece(corpora, user, str(tmp_path / "ours"), str(tmp_path))
    assert summary["origin"] == {"loaded": user.model_path}
    assert (tmp_path / "ours" / "spm.model").read_bytes() == (tmp_path / "theirs" / "spm.model").read_bytes()


def test_bad_inputs_are_clear_errors(corpora, tmp_path):
    with pytest.raises(VocabError, match="no such file"):
        build_sentencepiece(corpora, SentencePieceConfig(model_path=str(tmp_path / "nope.model")), str(tmp_path), str(tmp_path))
    with pytest.raises(VocabError, match="vocab_size|Vocabulary size"):
        build_sentencepiece(corpora, SentencePieceConfig(vocab_size=100, sample_sentences=5000), str(tmp_path / "s"), str(tmp_path))
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(VocabError, match="not a SentencePiece model"):
        load_sentencepiece(str(tmp_path / "junk.model"))


def test_caption_records_give_one_line_per_caption(corpora, emoji_names):
    assert corpora["ja"].lines == len(emoji_names)  # ja only comes from the captions
    assert corpora["de"].lines > len(emoji_names)  # de: captions and fortunes
