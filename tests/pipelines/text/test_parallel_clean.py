"""Pair filters on real Django translations, language ID of both sides with the real model."""
from __future__ import annotations

import os

import pytest

from babelshard.langid import LanguageIdConfig, load_lid_model, predict_languages
from babelshard.pipelines.text.parallel_clean import check_pair_languages, length_ratio, pair_dedup_key, prepare_pair
from babelshard.pipelines.text.parallel_readers import read_po
from babelshard.pipelines.text.config import PairFilterConfig, PoSource
from babelshard.records import ParallelPair
from babelshard.stats import Drop


def django(po_path, language: str) -> list[ParallelPair]:
    path = po_path(language)
    source = PoSource(name=f"django-{language}", format="po", target_language=language, paths=[path])
    with open(path, "rb") as handle:
        return [p for p in read_po(handle, source, os.path.basename(path)) if not isinstance(p, Drop)]


def reason(result) -> str:
    return result.reason if isinstance(result, Drop) else "kept"


def test_identical_empty_score_and_length_drops(po_path):
    pairs = django(po_path, "de")
    filters = PairFilterConfig(min_score=1.04, min_chars=3, max_chars=60, max_length_ratio=3.0)
    identical = [p for p in pairs if p.source_text.casefold() == p.target_text.casefold()]
    assert identical  # real: "Afrikaans" is "Afrikaans" in German too
    assert {reason(prepare_pair(p, filters)) for p in identical} == {"identical_sides"}
    assert reason(prepare_pair(pairs[0], PairFilterConfig(drop_identical=False))) == "kept"
    sample = next(p for p in pairs if 10 < len(p.source_text) < 50 and p.source_text != p.target_text)
    assert reason(prepare_pair(sample.__class__(**{**sample.__dict__, "target_text": "\u200b"}), filters)) == "empty_side"
    scored = sample.__class__(**{**sample.__dict__, "score": 1.03})
    assert reason(prepare_pair(scored, filters)) == "score_below_threshold"
    assert reason(prepare_pair(sample.__class__(**{**sample.__dict__, "score": 1.05}), filters)) == "kept"
    translated = [p for p in pairs if p.source_text.casefold() != p.target_text.casefold()]
    long_pair = next(p for p in translated if len(p.target_text) > 60)
    assert reason(prepare_pair(long_pair, filters)) == "too_long"
    short = next(p for p in translated if min(len(p.source_text), len(p.target_text)) < 3)
    assert reason(prepare_pair(short, filters)) == "too_short"


def test_length_ratio_counts_cjk_characters_as_words(po_path):
    ja = [p for p in django(po_path, "ja") if len(p.source_text.split()) >= 4]
    ratios = sorted(length_ratio(p.source_text, p.target_text) for p in ja)
    assert ratios[len(ratios) // 2] < 3.0  # real translations mostly pass the default ratio
    # a pair whose target is a single word of a much longer source is dropped
    pair = ja[0]
    cut = pair.__class__(**{**pair.__dict__, "target_text": "はい"})
    expected = "length_ratio" if length_ratio(pair.source_text, "はい") > 3.0 else "kept"
    assert reason(prepare_pair(cut, PairFilterConfig())) == expected == "length_ratio"


def test_language_id_on_both_sides(lid_model_path, po_path):
    model = load_lid_model(lid_model_path)
    lid = LanguageIdConfig(model_path=lid_model_path, min_score=0.5)
    pairs = [p for p in django(po_path, "fr") if len(p.source_text) > 40]
    kept, swapped_drops = [], 0
    for pair in pairs:
        predictions = predict_languages(model, [pair.source_text, pair.target_text])
        result = check_pair_languages(pair, predictions, lid)
        if not isinstance(result, Drop):
            kept.append(pair)
            assert [s for s in result.meta["langid_scores"]] == [round(s, 4) for _, s in predictions]
        swapped = pair.__class__(**{**pair.__dict__, "source_text": pair.target_text, "target_text": pair.source_text})
        swapped_predictions = predict_languages(model, [swapped.source_text, swapped.target_text])
        if swapped_predictions[0][0] == "fr":
            assert reason(check_pair_languages(swapped, swapped_predictions, lid)) == "source_lid_mismatch"
            swapped_drops += 1
    assert len(kept) > len(pairs) * 0.8 and swapped_drops > len(pairs) // 2
    # the target side checked against its claimed language
    wrong = kept[0].__class__(**{**kept[0].__dict__, "target_language": "de"})
    predictions = predict_languages(model, [wrong.source_text, wrong.target_text])
    assert reason(check_pair_languages(wrong, predictions, lid)) == "target_lid_mismatch"
    strict = LanguageIdConfig(min_score=1.0)
    verdicts = {reason(check_pair_languages(p, predict_languages(model, [p.source_text, p.target_text]), strict)) for p in pairs}
    assert verdicts & {"source_lid_low_score", "target_lid_low_score"}


def test_pair_dedup_key_is_over_both_sides(po_path):
    a, b = django(po_path, "it")[10:12]
    assert pair_dedup_key(a) == pair_dedup_key(a.__class__(**{**a.__dict__, "key": "x", "source_text": a.source_text.upper()}))
    assert pair_dedup_key(a) != pair_dedup_key(a.__class__(**{**a.__dict__, "target_text": b.target_text}))


def test_pair_conversion_applies_only_to_the_chinese_side(po_path):
    pytest.importorskip("opencc", reason="Traditional-to-Simplified conversion needs the optional opencc package")
    from babelshard.pipelines.text.clean import make_t2s_converter

    converter = make_t2s_converter()
    pairs = [p for p in django(po_path, "zh_Hant") if len(p.target_text) > 4]
    changed = 0
    for pair in pairs:
        out = prepare_pair(pair, PairFilterConfig(max_length_ratio=100), converter)
        if isinstance(out, Drop):
            continue
        assert out.source_text == " ".join(pair.source_text.split())
        changed += out.target_text != pair.target_text
    assert changed > len(pairs) // 3
