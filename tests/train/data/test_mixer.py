"""The stream mixer: exact sub-batch sizes, language and variant proportions within
binomial bounds, α-weights read from the text job's weights.json, and held-out keys."""
from __future__ import annotations

import json
import math
from collections import Counter

import torch
from torch.utils.data import DataLoader

from babelshard.records import CODESWITCHED_LANGUAGE
from babelshard.shards.reader import iter_samples
from babelshard.shards.weights import read_weights_file, sampling_weights, smoothed_weights
from babelshard.train.data.decode import in_holdout
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.tokenizer import HashTokenizer
from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig, ParallelStreamConfig, TextStreamConfig


def batches(streams, count: int, workers: int = 0, seed: int = 0):
    dataset = MixedStream(streams, HashTokenizer(max_length=16), seed=seed, batches_per_epoch=count)
    return list(DataLoader(dataset, batch_size=None, num_workers=workers, generator=torch.Generator()))


def within_binomial(count: int, total: int, p: float, sigmas: float = 4.5) -> bool:
    return abs(count - total * p) <= sigmas * math.sqrt(total * p * (1 - p)) + 1


def three_streams(toy):
    text_folders = [toy["text/en"], toy["text/de"], toy["text/ja"]]
    return [
        CaptionStreamConfig(name="caption", kind="caption", folders=[toy["caption"]], batch_size=12, image=ImageConfig(size=16)),
        ParallelStreamConfig(name="pairs", kind="parallel", folders=[toy["parallel"]], batch_size=20),
        TextStreamConfig(name="text", kind="text", folders=text_folders, batch_size=36),
    ]


def test_every_step_has_the_configured_sub_batch_sizes(toy):
    out = batches(three_streams(toy), 25, workers=2)
    assert len(out) == 25
    for batch in out:
        streams = batch.streams
        assert len(streams["caption"].keys) == 12 and streams["caption"].image.shape[0] == 12
        assert streams["pairs"].source_tokens.shape == (20, 16) and streams["pairs"].target_tokens.shape == (20, 16)
        assert streams["text"].tokens.shape == (36, 16) and len(streams["text"].languages) == 36


def test_text_languages_follow_the_weights_file_beside_the_folders(toy):
    weights = sampling_weights(read_weights_file(toy["text/en"].rsplit("/", 1)[0] + "/weights.json"))
    counts = Counter({lang: 0 for lang in weights})
    for batch in batches(three_streams(toy)[2:], 60):
        counts.update(batch.streams["text"].languages)
    total = sum(counts.values())
    assert total == 60 * 36
    sizes = {lang: sum(1 for _ in iter_samples(toy[f"text/{lang}"])) for lang in weights}
    expected = {lang: q for lang, (_, q) in smoothed_weights(sizes, 0.3).items()}  # the file says alpha 0.3: check the file, then the draws
    for lang in weights:
        assert math.isclose(weights[lang], expected[lang], rel_tol=1e-9)
        assert within_binomial(counts[lang], total, weights[lang]), (lang, counts[lang], total * weights[lang])
    assert counts["ja"] / total > sizes["ja"] / sum(sizes.values())  # smoothing raised the small language


def test_caption_languages_follow_explicit_weights(toy):
    weights = {"en": 0.5, "de": 0.3, "ja": 0.2}
    stream = CaptionStreamConfig(name="caption", kind="caption", folders=[toy["caption"]], batch_size=40, image=ImageConfig(size=8),
                          languages=list(weights), language_weights=weights)
    counts = Counter(lang for b in batches([stream], 40) for lang in b.streams["caption"].languages)
    assert set(counts) == set(weights)
    for lang, p in weights.items():
        assert within_binomial(counts[lang], 1600, p), (lang, counts[lang])


def test_codeswitched_and_english_variants_mix_at_the_configured_ratio(toy):
    with_cs = sum(1 for s in iter_samples(toy["caption"]) if json.loads(s.get("cs.json", b"[]")))
    share = with_cs / sum(1 for _ in iter_samples(toy["caption"]))
    stream = CaptionStreamConfig(name="caption", kind="caption", folders=[toy["caption"]], batch_size=40, image=ImageConfig(size=8),
                          languages=["en"], variants={"caption": 0.75, "codeswitched": 0.25})
    out = batches([stream], 40)
    variants = Counter(v for b in out for v in b.streams["caption"].variants)
    langs = Counter(lang for b in out for lang in b.streams["caption"].languages)
    assert within_binomial(variants["codeswitched"], 1600, 0.25 * share), variants
    assert langs[CODESWITCHED_LANGUAGE] == variants["codeswitched"] and langs["en"] == variants["caption"]


def test_holdout_keys_never_reach_training_streams(toy):
    stream = CaptionStreamConfig(name="caption", kind="caption", folders=[toy["caption"]], batch_size=30, image=ImageConfig(size=8),
                          holdout=0.25)
    out = batches([stream], 30)
    keys = {k for b in out for k in b.streams["caption"].keys}
    all_keys = {s["__key__"] for s in iter_samples(toy["caption"])}
    held = {k for k in all_keys if in_holdout(k, 0.25)}
    assert 0.1 < len(held) / len(all_keys) < 0.4
    assert not keys & held
    assert out[-1].meta.counters["caption"]["held_out"] > 0


def test_each_stream_has_its_own_max_length(toy, tmp_path):
    """Captions, pairs and sentences are cut at their own lengths; a row ends with the end
    token when cut; no stream may exceed the tokenizer's (the model's positions)."""
    import pytest

    from babelshard.configbase import ConfigError
    from babelshard.train.config import train_config_from

    streams = [s.model_copy(update={"max_length": n}) for s, n in zip(three_streams(toy), (6, 10, None))]
    out = batches(streams, 2)
    cut = 0
    for batch in out:
        assert batch.streams["caption"].tokens.shape == (12, 6)
        assert batch.streams["pairs"].source_tokens.shape[1] == batch.streams["pairs"].target_tokens.shape[1] == 10
        assert batch.streams["text"].tokens.shape == (36, 16)
        tokens = batch.streams["caption"].tokens
        full = tokens[:, -1] != HashTokenizer.PAD
        assert bool((tokens[full, -1] == HashTokenizer.EOS).all())
        cut += int(full.sum())
    assert cut > 0
    data = {"tokenizer": {"max_length": 8}, "loop": {"output": str(tmp_path)},
            "data": {"streams": [s.model_dump() for s in streams]}, "objectives": [{"kind": "itc", "stream": "caption"}]}
    with pytest.raises(ConfigError, match="stream 'pairs': max_length 10 exceeds tokenizer.max_length 8"):
        train_config_from(data)
