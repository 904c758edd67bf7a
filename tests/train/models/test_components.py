"""Tokenizers, image transforms, optimisers and schedules, configs and presets."""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from babelshard.configbase import ConfigError
from babelshard.shards.reader import iter_records
from babelshard.train.config import OptimConfig, load_train_config
from babelshard.train.loop.optim import Lamb, lr_factor
from babelshard.train.data.tokenizer import HashTokenizer, SentencePieceTokenizer
from babelshard.train.data.transforms import ImageDecodeError, decode_rgb, transform_image
from babelshard.train.stream_config import ImageConfig

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
PRESETS = [CONFIGS / f"train-{name}.yaml" for name in ("clip-en", "mla-stage1", "mla-stage2", "mclip-text", "mclip")]
FUSION_PRESETS = [CONFIGS / f"train-{name}.yaml" for name in ("m3p", "unified", "smalr")]


def test_hash_tokenizer_is_deterministic_padded_and_keeps_the_end_token():
    tokenizer = HashTokenizer(vocab_size=1000, max_length=6)
    rows = tokenizer.encode(["Dog face", "dog FACE", "grinsendes Gesicht mit großen Augen und mehr"])
    assert rows.shape == (3, 6) and rows.dtype == np.int64
    assert (rows[0] == rows[1]).all()  # case folded
    assert list(rows[0, :4]) == [1, tokenizer.word_id("dog"), tokenizer.word_id("face"), 2] and (rows[0, 4:] == 0).all()
    assert rows[2, -1] == HashTokenizer.EOS  # truncated rows still end
    assert len({tokenizer.word_id(w) for w in ("dog", "face", "gesicht", "狗", "脸")}) == 5


def test_sentencepiece_tokenizer_from_a_model_trained_on_the_captions(toy, tmp_path):
    import sentencepiece

    texts = [c.text for r in iter_records(toy["caption"]) for c in r.captions.values()]
    corpus = tmp_path / "captions.txt"
    corpus.write_text("\n".join(texts), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(tmp_path / "sp"), vocab_size=2000, character_coverage=0.9995,
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, minloglevel=2,
    )
    tokenizer = SentencePieceTokenizer(str(tmp_path / "sp.model"), max_length=12)
    rows = tokenizer.encode(["dog face", "狗脸", "hundegesicht"])
    assert tokenizer.vocab_size == 2000 and tokenizer.pad_id == 0
    assert rows[:, 0].tolist() == [2, 2, 2] and all(3 in row for row in rows.tolist())
    clone = pickle.loads(pickle.dumps(tokenizer))  # as sent to DataLoader workers
    assert (clone.encode(["dog face"]) == rows[:1]).all()


def test_transparent_png_is_flattened_and_crops_are_reproducible(toy):
    record = next(iter(iter_records(toy["caption"])))
    image = decode_rgb(record.image)
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    config = ImageConfig(size=24, random_crop=True, scale=(0.5, 0.9))
    a = transform_image(record.image, config, np.random.default_rng(3))
    b = transform_image(record.image, config, np.random.default_rng(3))
    c = transform_image(record.image, config, np.random.default_rng(4))
    assert a.shape == (3, 24, 24) and (a == b).all() and not (a == c).all()
    with pytest.raises(ImageDecodeError):
        transform_image(record.image[:50], config, np.random.default_rng(0))


def test_lamb_fits_a_least_squares_problem():
    torch.manual_seed(0)
    x, true = torch.randn(256, 8), torch.randn(8, 1)
    y = x @ true
    weight = torch.nn.Parameter(torch.randn(8, 1) * 0.1)
    optimizer = Lamb([weight], lr=0.05)
    start = float(((x @ weight.detach() - y) ** 2).mean())
    for _ in range(200):
        optimizer.zero_grad()
        loss = ((x @ weight - y) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.01 * start


def test_schedules_warm_up_then_decay_as_named():
    linear = OptimConfig(warmup_steps=10, schedule="linear", min_lr_ratio=0.1)
    factors = [lr_factor(s, 110, linear) for s in range(110)]
    assert factors[:10] == [(s + 1) / 10 for s in range(10)]
    assert all(a >= b for a, b in zip(factors[10:], factors[11:])) and math.isclose(factors[-1], 0.1 + 0.9 / 100)
    inverse = OptimConfig(warmup_steps=100, schedule="inverse_sqrt")
    assert math.isclose(lr_factor(399, 10_000, inverse) / lr_factor(1599, 10_000, inverse), 2.0)
    cosine = OptimConfig(warmup_steps=0, schedule="cosine")
    assert math.isclose(lr_factor(50, 100, cosine), 0.5, abs_tol=1e-9) and lr_factor(0, 100, cosine) == 1.0


@pytest.mark.parametrize("path", PRESETS + FUSION_PRESETS, ids=lambda p: p.stem)
def test_presets_validate(path):
    config = load_train_config(path)
    assert config.loop.output.startswith("out/train/")


def test_config_errors_name_the_key(tmp_path):
    preset = PRESETS[0]
    with pytest.raises(ConfigError, match="optim.lrr: unknown key"):
        load_train_config(preset, ["optim.lrr=0.1"])
    with pytest.raises(ConfigError, match="reads unknown stream 'nope'"):
        load_train_config(preset, ["objectives.0.stream=nope"])
    with pytest.raises(ConfigError, match="expected key.path=value"):
        load_train_config(preset, ["optim.lr"])


# The key path has the kind after a section chosen by its kind (as for translation engines).
@pytest.mark.parametrize("override,message", [
    ("model.languages=[de]", r"model\.clip\.languages: unknown key"),  # an MLA / M3P option on a clip model
    ("objectives.0.negatives=3", r"objectives\.0\.itc\.negatives: unknown key"),  # a matching option on itc
    ("data.streams.0.pair_languages=[de]", r"data\.streams\.0\.caption\.pair_languages: unknown key"),  # parallel-only
    ("model.vision.kind=features", r"model\.clip\.vision\.features\.image_size: unknown key"),  # the ViT's options left behind
    ("model.vision.patch_size=7", r"model\.clip\.vision\.vit: .*image_size 32 is not a multiple of patch_size 7"),
    ("model.kind=nope", "model.kind: unknown kind 'nope' \\(registered: .*'clip'"),
    ("data.streams.0.kind=video", "data.streams.0.kind: unknown kind 'video'"),
    ("model={embed_dim: 8}", "model.kind: missing"),
])
def test_a_stray_option_or_unknown_kind_fails_at_parse_time_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(PRESETS[0], [override])


def test_an_objective_must_read_a_stream_of_its_kind():
    with pytest.raises(ConfigError, match="objective 'itc' reads stream 'pairs' of kind parallel; it needs a caption stream"):
        load_train_config(CONFIGS / "train-mclip-text.yaml", ["objectives.0.kind=itc"])
    config = load_train_config(CONFIGS / "train-m3p.yaml")  # xmlm reads captions as sentences
    assert {(o.kind, o.stream) for o in config.objectives} >= {("xmlm", "text"), ("mc_vlm", "caption")}


def test_every_kind_of_the_config_unions_is_registered():
    from typing import get_args

    from babelshard.train.model_config import MODEL_CONFIGS
    from babelshard.train.objective_config import READS, ObjectiveConfig
    from babelshard.train.registry import MODELS, OBJECTIVES

    union = get_args(get_args(ObjectiveConfig)[0])
    objective_kinds = {kind for model in union for kind in get_args(model.model_fields["kind"].annotation)}
    assert objective_kinds == set(OBJECTIVES) == set(READS)
    assert set(MODEL_CONFIGS) == set(MODELS) == {"clip", "text", "mla", "mclip", "unified", "m3p", "smalr"}


def test_model_configs_saved_with_every_kinds_options_still_parse():
    """Model files written before the kinds were split hold every option of every kind."""
    from babelshard.train.model_config import SmalrModelConfig, model_config, own_options

    old = {"kind": "smalr", "embed_dim": 32, "text": {"width": 32, "layers": 1, "heads": 2, "mlp_ratio": 4.0, "dropout": 0.0, "pool": "mean"},
           "vision": {"kind": "vit", "image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "heads": 2, "mlp_ratio": 4.0,
                      "pool": "mean", "feature_dim": None, "feature": None},
           "teacher": None, "init": None, "languages": [], "bottleneck": 32, "encoder": None, "projector_layers": 2,
           "fusion": {"layers": None, "heads": None, "mlp_ratio": None, "dropout": 0.0, "special_ids": [0, 1, 2, 3],
                      "region_classes": 0, "hybrid_vocab": "out/vocab/smalr/hybrid"}}
    config = model_config(**own_options(old))
    assert isinstance(config, SmalrModelConfig) and config.hybrid_vocab == "out/vocab/smalr/hybrid"
    assert config.vision.width == 32 and config.text.layers == 1
    assert own_options(config.model_dump(mode="json")) == config.model_dump(mode="json")  # today's configs pass through
    features = {**old, "kind": "clip", "vision": {**old["vision"], "kind": "features", "feature_dim": 48}}
    assert model_config(**own_options(features)).vision.feature_dim == 48
