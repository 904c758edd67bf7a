"""MLA on a pretrained CLIP from a tiny random checkpoint: M-BERT-initialised non-native
embeddings, NLT then LE with the loss going down and the teacher bit-identical, English
evaluation with the non-English tokenizer, and adding a language to a trained model."""
from __future__ import annotations

import os

import pytest
import torch

from babelshard.configbase import read_yaml
from babelshard.train.config import EvalConfig
from babelshard.train.data.tokenizer import build_tokenizer
from babelshard.train.eval.retrieval import evaluate
from babelshard.train.loop.metrics import read_metrics
from babelshard.train.loop.steps import train
from babelshard.train.models.backbones import load_hf_clip, load_hf_text
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.registry import build_model, load_model_file

PAPER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "configs", "paper")


def mla_overrides(checkpoints, languages: str, *extra: str) -> list[str]:
    clip, mbert = checkpoints["clip"], checkpoints["mbert"]
    return [
        f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.embeddings={mbert}", "model.bottleneck=8",
        f"model.languages=[{languages}]",
        f"tokenizer={{kind: transformers, path: {mbert}, max_length: 16, english: {{kind: transformers, path: {clip}, max_length: 16}}}}",
        f"teacher_tokenizer={{kind: transformers, path: {clip}, max_length: 16}}",
        "eval.image={}", *extra,
    ]


def losses(output: str, name: str) -> list[float]:
    return [r[f"loss/{name}"] for r in read_metrics(os.path.join(output, "metrics.jsonl"))]


def assert_goes_down(values: list[float]) -> None:
    first, last = sum(values[:3]) / 3, sum(values[-3:]) / 3
    assert last < 0.9 * first, values


def library_name(name: str) -> str:
    """A tower parameter's name in CLIPModel: visual.vision_model.x -> vision_model.x, text.projection.w -> text_projection.w."""
    tower, rest = name.split(".", 1)
    return rest.replace("projection.", f"{tower}_projection.", 1) if rest.startswith("projection.") else rest


def assert_teacher_unchanged(model, checkpoint: str) -> None:
    original = load_hf_clip(checkpoint).state_dict()
    for name, value in model.teacher.state_dict().items():
        key = library_name(name)
        assert torch.equal(value, original[key]), name


@pytest.fixture(scope="module")
def stage1(preset, checkpoints, tmp_path_factory) -> str:
    output = str(tmp_path_factory.mktemp("mla-stage1"))
    train(preset("mla-stage1", output, *mla_overrides(checkpoints, "de,fr"), "data.streams.0.pair_languages=[de,fr]",
                 "loop.max_steps=25", "optim.lr=0.003", "optim.warmup_steps=0"))
    return output


def test_nlt_trains_the_acquirers_on_a_frozen_pretrained_clip(stage1, checkpoints):
    assert_goes_down(losses(stage1, "nlt"))
    model, config, _ = load_model_file(os.path.join(stage1, "model.pt"))
    assert_teacher_unchanged(model, checkpoints["clip"])
    mbert = load_hf_text(checkpoints["mbert"]).get_input_embeddings().weight
    assert model.native_embedding.embedding.weight.shape == mbert.shape  # M-BERT's rows, projected to CLIP's width
    assert model.native_embedding.projection.out_features == model.width == 32
    assert not torch.equal(model.native_embedding.embedding.weight, mbert)  # trained from M-BERT's start
    assert all(float(a[0].up.weight.detach().abs().sum()) > 0 for a in model.acquirers.values())


def test_le_follows_nlt_and_english_evaluation_uses_the_teacher_tokenizer(stage1, preset, checkpoints, toy, tmp_path):
    output = str(tmp_path / "stage2")
    config = preset("mla-stage2", output, *mla_overrides(checkpoints, "de,fr"), f"model.init={stage1}/model.pt",
                    "data.streams.0.languages=[de,fr]", "loop.max_steps=25", "optim.lr=0.001", "optim.warmup_steps=0",
                    "data.streams.0.image={random_crop: false}")
    train(config)
    assert_goes_down(losses(output, "le"))
    model, _, _ = load_model_file(os.path.join(output, "model.pt"))
    assert_teacher_unchanged(model, checkpoints["clip"])
    tokenizer = build_tokenizer(config.tokenizer)
    evaluation = EvalConfig(folders=[toy["heldout"]], languages=["en", "de"], image=config.eval.image)
    results = evaluate(model, tokenizer, evaluation)  # the M-BERT tokenizer's rows carry CLIP's tokens for English
    teacher_results = evaluate(model.teacher, build_tokenizer(config.teacher_tokenizer), evaluation)
    assert results["languages"]["en"] == teacher_results["languages"]["en"]
    assert results["languages"]["de"]["captions"] > 0


def test_acquirers_start_as_the_identity_on_clips_own_layers(checkpoints, preset, tmp_path):
    """With the teacher's own tokenizer and embeddings and untrained acquirers, a non-English
    row passes CLIP's layers exactly as the library's forward pass does."""
    clip = checkpoints["clip"]
    config = preset("mla-stage1", str(tmp_path), f"model.teacher={{kind: hf_clip, path: {clip}}}", "model.languages=[de]",
                    f"tokenizer={{kind: transformers, path: {clip}, max_length: 16}}", "eval.image={}")
    tokenizer = build_tokenizer(config.tokenizer)
    model = build_model(config.model, VocabInfo.of(tokenizer)).eval()
    tokens = torch.from_numpy(tokenizer.encode(["a dog face", "grinning cat", "x"]))
    with torch.no_grad():
        reference = load_hf_clip(clip).get_text_features(input_ids=tokens).pooler_output
        assert float((model.encode_text(tokens, ["de"] * 3) - reference).abs().max()) <= 1e-5
        assert torch.equal(model.encode_text(tokens, ["en"] * 3), model.teacher.encode_text(tokens))


def test_a_trained_model_gains_a_language_without_changing_the_others(stage1, preset, checkpoints, toy, tmp_path):
    output = str(tmp_path / "extend")
    config = preset("mla-stage1", output, *mla_overrides(checkpoints, "de,fr,ja"), f"model.extend={stage1}/model.pt",
                    "data.streams.0.pair_languages=[ja]", "loop.max_steps=15", "optim.lr=0.003", "optim.warmup_steps=0")
    train(config)
    assert_goes_down(losses(output, "nlt"))
    before, _, _ = load_model_file(os.path.join(stage1, "model.pt"))
    after, _, _ = load_model_file(os.path.join(output, "model.pt"))
    assert set(after.acquirers) == {"de", "fr", "ja"} and set(after.language_embeddings) == {"ja"}
    tokenizer = build_tokenizer(config.tokenizer)
    texts = ["Hund Gesicht", "grinsendes Gesicht mit großen Augen", "visage souriant", "chat"]
    tokens = torch.from_numpy(tokenizer.encode(texts))
    languages = ["de", "de", "fr", "fr"]
    with torch.no_grad():
        assert torch.equal(before.eval().encode_text(tokens, languages), after.eval().encode_text(tokens, languages))
        japanese = after.encode_text(tokens, ["ja"] * 4)
    assert not torch.equal(japanese, after.encode_text(tokens, ["de"] * 4))
    for name, value in before.state_dict().items():
        assert torch.equal(value, after.state_dict()[name]), name  # everything it had, bit for bit
    assert float(after.acquirers["ja"][0].up.weight.detach().abs().sum()) > 0


def test_the_paper_presets_name_the_paper_settings():
    stage2 = read_yaml(os.path.join(PAPER, "train-mla-stage2.yaml"))
    assert stage2["optim"]["lr"] == 3e-6  # the paper's LE learning rate
    for stage in ("stage1", "stage2"):
        header = open(os.path.join(PAPER, f"train-mla-{stage}.yaml"), encoding="utf-8").read().split("\nname:")[0]
        assert "CC300K" in header and "300K subset of CC3M" in header
