"""Each fusion objective, built by part 1's factory, lowers its loss on real OpenMoji
batches (tiny models, AdamW, batches cycled); negatives are sampled as specified."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from babelshard.train.objective_config import objective_config
from babelshard.train.objectives.matching import distinct_pairs, hard_negatives, random_negatives
from babelshard.train.registry import build_objective


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def binary_entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


MASKED_LM = [
    ("unified", "xmlm", "text"),
    ("unified", "tlm", "parallel"),
    ("unified", "tlm_concat", "parallel"),
    ("unified", "vlm", "caption"),
    ("m3p", "xmlm", "text"),
    ("m3p", "mc_mlm", "caption"),
    ("m3p", "tlm", "parallel"),
]


@pytest.mark.parametrize("kind,objective,stream", MASKED_LM)
def test_masked_lm_loss_decreases(build, batches, fit, kind, objective, stream):
    model = build(kind)
    loss = build_objective(objective_config(kind=objective, stream=stream))
    losses = fit(model, loss, batches(stream, 8), steps=40)
    assert all(math.isfinite(x) for x in losses)
    assert mean(losses[-5:]) < mean(losses[:5]) - 0.4, (losses[:5], losses[-5:])


def test_masked_region_regression_decreases(build, batches, fit):
    model = build("m3p")
    loss = build_objective(objective_config(kind="mc_mrm", stream="caption"))
    losses = fit(model, loss, batches("caption", 8), steps=40)
    assert mean(losses[-5:]) < 0.7 * mean(losses[:5]), (losses[:5], losses[-5:])


def brightness_labels(model, images: torch.Tensor) -> torch.Tensor:
    """Region labels from the real pixels: each patch's mean brightness in 4 bins."""
    brightness = model.patch_vectors(images).mean(dim=-1)
    return torch.bucketize(brightness, torch.tensor([-0.5, 0.0, 0.5]))


def test_masked_region_classification_where_labels_exist(model_config, tokenizer, batches, fit):
    from babelshard.train.model_config import SingleStreamFusionConfig
    from babelshard.train.models.dual_encoder import VocabInfo
    from babelshard.train.models.single_stream import SingleStreamModel

    torch.manual_seed(0)
    model = SingleStreamModel(model_config("m3p"), VocabInfo.of(tokenizer), SingleStreamFusionConfig(region_classes=4))
    data = [dataclasses.replace(b, region_labels=brightness_labels(model, b.image)) for b in batches("caption", 8)]
    loss = build_objective(objective_config(kind="mc_mrm", stream="caption"))
    first = loss(model, data[0])
    assert "classification" in first and float(first["loss"].detach()) > float(first["regression"])
    losses = fit(model, loss, data, steps=40)
    assert mean(losses[-5:]) < 0.7 * mean(losses[:5])


def test_random_negatives_never_pair_a_sample_with_itself():
    keys = ["a", "b", "c", "a", "d", "e"]  # "a" drawn twice: its two rows are not negatives of each other
    valid = distinct_pairs(keys, torch.device("cpu"))
    torch.manual_seed(0)
    rows, partners = random_negatives(valid, 3)
    assert rows.tolist() == [r for r in range(6) for _ in range(3)]
    for row, partner in zip(rows.tolist(), partners.tolist()):
        assert keys[row] != keys[partner]
    assert all(len(set(partners[rows == r].tolist())) == 3 for r in range(6))  # without replacement


def test_hard_negatives_follow_the_similarities():
    keys = ["a", "b", "c", "d"]
    valid = distinct_pairs(keys, torch.device("cpu"))
    similarity = torch.eye(4) + torch.tensor([[0, 0.9, 0, 0], [0, 0, 0, 0.9], [0.9, 0, 0, 0], [0, 0, 0.9, 0]])
    torch.manual_seed(0)
    picks = torch.stack([hard_negatives(similarity, valid, 0.07)[1] for _ in range(200)])
    hardest = torch.tensor([1, 3, 0, 2])
    share = (picks == hardest).float().mean(dim=0)
    assert bool((share > 0.95).all()), share  # e^(0.9/0.07) against two e^0 partners
    assert not bool((picks == torch.arange(4)).any()), "a positive was drawn as a negative"


@pytest.mark.parametrize("kind,objective,negatives", [("unified", "mc_vlm", 3), ("m3p", "mc_vlm", 3), ("unified", "itm", 2)])
def test_matching_learns_beyond_the_label_prior(build, batches, fit, kind, objective, negatives):
    """Random negatives: 1 positive per 3 negatives; hard: per positive one hard caption
    and one hard image. Predicting the prior alone gives the binary entropy of the
    positive share; the loss must fall below it."""
    model = build(kind)
    loss = build_objective(objective_config(kind=objective, stream="caption"))
    out = loss(model, batches("caption", 1)[0])
    assert float(out["negatives"]) == negatives * 16
    losses = fit(model, loss, batches("caption", 4), steps=160, lr=2e-3)
    prior = binary_entropy(1 / (1 + negatives))
    assert mean(losses[-10:]) < prior - 0.03, (prior, losses[-10:])


def test_pretraining_negatives_replace_the_image_or_the_caption(build, batches):
    """MC-VLM pretraining: a negative keeps one side of a positive pair and replaces the
    other, the image about as often as the caption."""
    from babelshard.train.objectives.matching import replaced_pairs

    model = build("m3p")
    loss = build_objective(objective_config(kind="mc_vlm", stream="caption"))
    torch.manual_seed(0)
    out = loss(model, batches("caption", 1)[0])
    images, texts = float(out["replaced_images"]), float(out["replaced_texts"])
    assert images + texts == float(out["negatives"]) == 3 * 16
    assert abs(images - texts) <= 3 * math.sqrt(48 * 0.25) and min(images, texts) > 0
    rows = torch.arange(200).repeat_interleave(3)
    partners = (rows + 1 + torch.arange(600) % 3) % 200
    image_rows, text_rows = replaced_pairs(rows, partners, "image_or_text")
    assert bool(((image_rows == rows) ^ (text_rows == rows)).all())  # exactly one side replaced
    image_rows, text_rows = replaced_pairs(rows, partners, "text")
    assert torch.equal(image_rows, rows) and torch.equal(text_rows, partners)


def test_ucl_is_one_infonce_over_image_text_and_translation_pairs(build, batches, fit):
    """The unified mVLP's Eq. 1: images and source sentences are the anchors, captions and
    target sentences the candidates, all in one softmax with one temperature."""
    import torch.nn.functional as F

    model = build("unified")
    config = objective_config(kind="ucl", stream="caption", pair_stream="pairs", temperature=0.05)
    loss = build_objective(config)
    assert [name for name, _ in loss.named_parameters()] == ["temperature.log_scale"]
    captions, pairs = batches("caption", 2, 8), batches("pairs", 2, 12)
    assert loss.inputs({"caption": captions[0], "pairs": pairs[0], "other": None}) == (captions[0], pairs[0])
    with torch.no_grad():
        out = loss(model, (captions[0], pairs[0]))
        x = torch.cat([model.encode_image(captions[0]), model.encode_text(pairs[0].source_tokens)])
        y = torch.cat([model.encode_text(captions[0].tokens), model.encode_text(pairs[0].target_tokens)])
        logits = F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).T / 0.05
        expected = F.cross_entropy(logits, torch.arange(20))
    assert float(out["pairs"]) == 20 and float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)
    data = [(c, p) for c, p in zip(captions, pairs)]
    losses = fit(model, loss, data, steps=30)
    assert mean(losses[-5:]) < mean(losses[:5]) - 0.5, (losses[:5], losses[-5:])


def test_ucl_pair_stream_must_be_a_parallel_stream(toy, tmp_path):
    from babelshard.configbase import ConfigError
    from babelshard.train.config import train_config_from

    streams = [{"name": "caption", "kind": "caption", "folders": [toy["caption"]], "batch_size": 4, "image": {"size": 32}},
               {"name": "more", "kind": "caption", "folders": [toy["caption"]], "batch_size": 4, "image": {"size": 32}}]
    data = {"data": {"streams": streams}, "loop": {"output": str(tmp_path)}, "model": {"kind": "unified"},
            "objectives": [{"kind": "ucl", "stream": "caption", "pair_stream": "more"}]}
    with pytest.raises(ConfigError, match="objective 'ucl' reads stream 'more' of kind caption; it needs a parallel stream"):
        train_config_from(data)
