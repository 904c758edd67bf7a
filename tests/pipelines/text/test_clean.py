"""Cleaning functions on real fortunes and Django strings, with the real fastText model."""
from __future__ import annotations

import itertools
import sys

import pytest

from babelshard.langid import LanguageIdConfig, lid_code, load_lid_model, predict_language
from babelshard.pipelines.text.clean import (
    check_text_language,
    dedup_key,
    keep_first_per_hash,
    make_t2s_converter,
    prepare_sentences,
    split_sentences,
)
from babelshard.pipelines.text.config import TextCleanConfig
from babelshard.records import TextSample, stable_key
from babelshard.stats import Drop
from babelshard.textnorm import clean_text


def sample(text: str, language: str, n: int = 0) -> TextSample:
    return TextSample(key=stable_key("test", language, str(n)), text=text, language=language, source="test")


def test_split_sentences_handles_abbreviations_ordinals_and_lowercase_continuations():
    text = "Dr. Müller kam am 3. Mai nach Berlin. Er blieb zwei Tage! Warum? Niemand weiß es…"
    assert split_sentences(text) == ["Dr. Müller kam am 3. Mai nach Berlin.", "Er blieb zwei Tage!", "Warum?", "Niemand weiß es…"]
    assert split_sentences("Il a dit... et puis rien. Fin.") == ["Il a dit... et puis rien.", "Fin."]
    assert split_sentences('He said "Stop." Then he left.') == ['He said "Stop."', "Then he left."]


def test_split_sentences_cjk_and_other_scripts_without_spaces():
    assert split_sentences("今日は晴れです。明日は雨でしょう！本当？") == ["今日は晴れです。", "明日は雨でしょう！", "本当？"]
    assert split_sentences("他说：“你好。”然后走了。") == ["他说：“你好。”", "然后走了。"]
    assert split_sentences("यह एक वाक्य है। यह दूसरा है।") == ["यह एक वाक्य है।", "यह दूसरा है।"]
    assert split_sentences("هل أنت هنا؟ نعم.") == ["هل أنت هنا؟", "نعم."]
    assert split_sentences("안녕하세요. 반갑습니다.") == ["안녕하세요.", "반갑습니다."]  # Korean ends with "."
    assert split_sentences("例. 東京と大阪。") == ["例. 東京と大阪。"]  # "." after kanji abbreviates


@pytest.mark.parametrize("language", ["de", "ru", "es", "pl"])
def test_split_sentences_keeps_every_character_of_real_fortunes(fortunes, language):
    paragraphs = [clean_text(p) for p in fortunes(language, 150)]
    split_counts = []
    for paragraph in paragraphs:
        pieces = split_sentences(paragraph)
        assert " ".join(pieces).replace(" ", "") == paragraph.replace(" ", "")
        assert all(p == p.strip() and p for p in pieces)
        split_counts.append(len(pieces))
    assert sum(1 for c in split_counts if c > 1) > len(paragraphs) // 10  # fortunes often have several sentences


def test_split_sentences_on_real_cjk_ui_strings(po_path):
    from babelshard.pipelines.text.po import iter_po_entries

    for language, stop in (("zh_Hans", "。"), ("ja", "。")):
        with open(po_path(language), "rb") as handle:
            texts = [e.translation for e in iter_po_entries(handle) if e.translation.count(stop) >= 2]
        assert texts, language
        for text in texts:
            pieces = split_sentences(clean_text(text))
            assert "".join(pieces).replace(" ", "") == clean_text(text).replace(" ", "")
            assert all(piece.endswith(stop) or piece.rstrip("」）)\"”").endswith(stop) for piece in pieces[:-1])
            assert len(pieces) >= clean_text(text).rstrip(stop).count(stop)


@pytest.mark.parametrize("language", ["de", "ru", "pl", "en"])
def test_clean_text_fast_path_equals_the_thorough_path(fortunes, language):
    from babelshard.textnorm import clean_text_thoroughly

    texts = fortunes(language, 300)
    texts += [t.replace(" ", "\u00a0", 1) + "\u200b\t" for t in texts[:20]]  # the slow path
    texts += ["Mu\u0308ller  ", "\x00", "a\u2028b", "\ufeffStart", "x\u00ady", "  "]
    assert [clean_text(t) for t in texts] == [clean_text_thoroughly(t) for t in texts]


def test_prepare_sentences_drop_reasons(fortunes):
    clean = TextCleanConfig(min_chars=12, max_chars=200, min_words=3)
    assert [d.reason for d in prepare_sentences(sample("\u200b \u200d\t", "de"), clean)] == ["empty"]
    long_text = max(fortunes("de", 400), key=len)
    assert len(long_text) > 200
    paragraph = "Ja. Was? " + "Zwei Wörter hier. " + long_text.replace(".", ",").replace("!", ",").replace("?", ",")
    out = prepare_sentences(sample(paragraph, "de"), TextCleanConfig(min_chars=4, max_chars=200, min_words=3))
    assert [o.reason if isinstance(o, Drop) else "kept" for o in out] == ["too_short", "too_few_words", "kept", "too_long"]
    assert len({o.key for o in out}) == 4


def test_prepare_sentences_normalises_to_nfc():
    decomposed = "Mu\u0308ller a\u0300 la gare de Montre\u0301al, sans de\u0301lai."
    (out,) = prepare_sentences(sample(decomposed, "fr"), TextCleanConfig())
    assert out.text == "Müller à la gare de Montréal, sans délai." and len(out.text) < len(decomposed)


def test_language_check_mismatch_and_low_score(lid_model_path, fortunes):
    model = load_lid_model(lid_model_path)
    scored = [(predict_language(model, text), text) for text in fortunes("de", 60)]
    (label, score), german = min((item for item in scored if item[0][0] == "de"), key=lambda item: item[0][1])
    assert score < 0.999  # the least sure German fortune
    lid = LanguageIdConfig(model_path=lid_model_path, min_score=score + 1e-3)
    claimed_it = check_text_language(sample(german, "it"), (label, score), lid)
    assert isinstance(claimed_it, Drop) and claimed_it.reason == "lid_mismatch"
    low = check_text_language(sample(german, "de"), (label, score), lid)
    assert isinstance(low, Drop) and low.reason == "lid_low_score"
    kept = check_text_language(sample(german, "de"), (label, score), LanguageIdConfig(min_score=score - 1e-3))
    assert kept.langid_score == pytest.approx(score, abs=1e-4)
    # also_accept lets a claimed language take a close neighbour's label
    neighbour = LanguageIdConfig(min_score=0.0, also_accept={"it": ["de"]})
    assert not isinstance(check_text_language(sample(german, "it"), (label, score), neighbour), Drop)


def test_lid_codes_for_config_languages():
    assert [lid_code(c) for c in ("pt_BR", "zh-Hant", "nb", "sr_Latn", "iw", "de")] == ["pt", "zh", "no", "sr", "he", "de"]


def test_dedup_keeps_the_smallest_key_whatever_the_order(fortunes):
    text = fortunes("it", 20)[3]
    variants = [text, text.upper(), "  " + text.replace(" ", "   ") + " ", text + "\u200b"]
    assert len({dedup_key(clean_text(v)) for v in variants}) == 1
    assert dedup_key(text) != dedup_key(fortunes("it", 20)[4])
    records = [sample(v, "it", n) for n, v in enumerate(variants)]
    other = sample(fortunes("it", 20)[4], "it", 9)  # a different text: kept whatever its key
    winner = min(records, key=lambda r: r.key)
    for order in itertools.permutations(records + [other]):
        kept, drops = keep_first_per_hash((dedup_key(clean_text(r.text)), r) for r in order)
        assert sorted(kept, key=lambda r: r.key) == sorted([winner, other], key=lambda r: r.key)
        assert sorted(d.key for d in drops) == sorted(r.key for r in records if r is not winner)
        assert {d.reason for d in drops} == {"duplicate"}
        keys = {r.key for r in records}
        assert all(d.detail.removeprefix("same as ") in keys and d.detail.removeprefix("same as ") < d.key for d in drops)


def test_traditional_to_simplified_brings_django_zh_hant_close_to_zh_hans(po_path):
    pytest.importorskip("opencc", reason="Traditional-to-Simplified conversion needs the optional opencc package")
    from babelshard.pipelines.text.po import iter_po_entries

    def catalogue(language):
        with open(po_path(language), "rb") as handle:
            return {e.msgid: e.translation for e in iter_po_entries(handle) if e.msgid and e.translation}

    hant, hans = catalogue("zh_Hant"), catalogue("zh_Hans")
    common = sorted(set(hant) & set(hans))
    converter = make_t2s_converter()
    before = sum(hant[m] == hans[m] for m in common)
    out = [prepare_sentences(sample(hant[m], "zh_Hant", n), TextCleanConfig(min_chars=1, min_words=0, split_sentences=False), converter) for n, m in enumerate(common)]
    after = sum(o[0].text == clean_text(hans[m]) for o, m in zip(out, common) if not isinstance(o[0], Drop))
    assert after > before + len(common) // 5
    # other languages are left alone
    (ja,) = prepare_sentences(sample("這個軟體很好用です。", "ja"), TextCleanConfig(min_words=0), converter)
    assert ja.text == "這個軟體很好用です。"


def test_missing_opencc_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opencc", None)  # what Python does for a package that is not installed
    with pytest.raises(RuntimeError, match="pip install opencc"):
        make_t2s_converter()


def test_batched_language_checks_give_each_record_its_own_verdict(fortunes, lid_model_path):
    """Sentences checked in batches with fastText called on 2 texts at a time, pairs on 3
    (so a pair's two sides fall into different calls): each verdict equals the per-record check."""
    from babelshard.langid import load_lid_model, predict_languages
    from babelshard.pipelines.text.parallel_clean import check_pair_batch, check_pair_languages
    from babelshard.pipelines.text.clean import check_text_languages
    from babelshard.records import ParallelPair

    texts = {lang: fortunes(lang, 3) for lang in ("de", "ru", "it")}
    model, lid = load_lid_model(lid_model_path), LanguageIdConfig(model_path=lid_model_path, max_batch_size=2)
    claimed = ["de", "ru", "it", "ru", "de"]  # the fourth claims Russian for German text
    records = [sample(texts[lang][0] if n != 3 else texts["de"][1], lang, n) for n, lang in enumerate(claimed)]
    out = check_text_languages(records, model, lid)
    assert out == [check_text_language(r, predict_languages(model, [r.text])[0], lid) for r in records]
    assert [getattr(item, "reason", None) for item in out] == [None, None, None, "lid_mismatch", None]

    # (claimed source, claimed target, source text, target text); chunks of 3 texts split pairs
    made = [("de", "it", "de", "it"), ("ru", "de", "ru", "de"), ("de", "it", "ru", "it"), ("de", "ru", "de", "it")]
    pairs = [ParallelPair(f"p{n}", s, t, texts[st][n % 3], texts[tt][n % 3], "test") for n, (s, t, st, tt) in enumerate(made)]
    by_three = LanguageIdConfig(model_path=lid_model_path, max_batch_size=3)
    checked = check_pair_batch(pairs, model, by_three)
    assert checked == [check_pair_languages(p, predict_languages(model, [p.source_text, p.target_text]), by_three) for p in pairs]
    assert [getattr(item, "reason", None) for item in checked] == [None, None, "source_lid_mismatch", "target_lid_mismatch"]
