"""Every objective's loss goes down over a few dozen steps of its preset on real OpenMoji
shards; the contrastive math, temperatures and TriKD's English-only TTC."""
from __future__ import annotations

import dataclasses
import math
import os

import pytest
import torch

from babelshard.shards.reader import iter_records
from babelshard.textnorm import tokenize_words
from babelshard.train.loop.metrics import read_metrics
from babelshard.train.loop.steps import train
from babelshard.train.objectives.contrastive import Temperature, symmetric_infonce
from babelshard.train.registry import OBJECTIVES, build_objective


def losses(output: str, name: str) -> list[float]:
    return [r[f"loss/{name}"] for r in read_metrics(os.path.join(output, "metrics.jsonl"))]


def assert_learns(values: list[float], factor: float, floor: float | None = None) -> None:
    """The mean of the last five steps is well below that of steps 2-6 (the first step
    is left out: its untrained logits can be far off) and below ``floor``."""
    first, last = sum(values[1:6]) / 5, sum(values[-5:]) / 5
    assert last < factor * first, (first, last, values)
    if floor is not None:
        assert last < floor, (last, floor)


def test_itc_on_english_captions(teacher_run):
    values = losses(teacher_run, "itc")
    assert len(values) == 60
    assert_learns(values, 0.9, floor=math.log(32) - 0.25)  # below a uniform guess over the batch


def test_itc_on_precomputed_image_features(preset, tiny_model, tmp_path):
    """The image side reads a ``.npy`` member (here a 4x4 colour grid) instead of pixels."""
    output = str(tmp_path / "features")
    train(preset("clip-en", output, *tiny_model, "model.vision={kind: features, feature_dim: 48, width: 32}",
                 "data.streams.0.image=null", "data.streams.0.features=pix", "loop.max_steps=40", "loop.epochs=10",
                 "optim.lr=0.005", "eval=null"))
    assert_learns(losses(output, "itc"), 0.9, floor=math.log(32) - 0.25)


def test_nlt_on_translation_pairs(preset, teacher, tmp_path):
    output = str(tmp_path / "mla1")
    train(preset("mla-stage1", output, f"model.teacher={teacher}", "loop.max_steps=30", "model.languages=[de,fr,ja]",
                 "data.streams.0.pair_languages=[de,fr,ja]"))
    assert_learns(losses(output, "nlt"), 0.7)


def test_le_on_non_english_captions(preset, teacher, tmp_path):
    output = str(tmp_path / "mla2")
    train(preset("mla-stage2", output, f"model.teacher={teacher}", "model.init=null", "loop.max_steps=40",
                 "model.languages=[de,fr,ja]", "data.streams.0.languages=[de,fr,ja]", "optim.lr=0.003"))
    assert_learns(losses(output, "le"), 0.9)


def test_ctl_on_translation_pairs(preset, tiny_model, tmp_path):
    output = str(tmp_path / "ctl")
    train(preset("mclip-text", output, *tiny_model[:4], "loop.max_steps=40", "optim.lr=0.005",
                 "data.streams.0.pair_languages=[de]"))
    assert_learns(losses(output, "ctl"), 0.9, floor=math.log(32) - 0.25)


def tiny_bert(folder: str, captions_folder: str) -> str:
    """A small random BERT with a word-level vocabulary of the captions, saved as a local
    transformers checkpoint directory (what a user's XLM-R folder looks like)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = sorted({w.casefold() for r in iter_records(captions_folder) for c in r.captions.values() for w in tokenize_words(c.text)})
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizerFast(vocab=os.path.join(folder, "vocab.txt"), strip_accents=False)
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


def test_trikd_distils_a_multilingual_encoder_into_the_teacher_space(preset, teacher, tmp_path):
    """The frozen encoder here is the teacher's own text tower (a babelshard model file
    as model.encoder), on English captions, so TTC runs on every row."""
    output = str(tmp_path / "mclip")
    train(preset("mclip", output, f"model.teacher={teacher}", f"model.encoder={teacher}", "model.text.heads=2",
                 "data.streams.0.languages=[en]", "loop.max_steps=40", "optim.lr=0.005"))
    records = read_metrics(os.path.join(output, "metrics.jsonl"))
    assert_learns([r["loss/trikd"] for r in records], 0.9)
    assert all(r["trikd/ttc"] > 0 for r in records)


def test_mclip_trains_a_projector_over_a_local_transformers_encoder(preset, teacher, toy, tmp_path):
    from babelshard.train.registry import load_model_file

    encoder = tiny_bert(str(tmp_path / "bert"), toy["caption"])
    output = str(tmp_path / "mclip-hf")
    config = preset(
        "mclip", output, f"model.teacher={teacher}", f"model.encoder={encoder}", "loop.max_steps=4",
        f"tokenizer={{kind: transformers, path: {encoder}, max_length: 16}}",
        "teacher_tokenizer={kind: hash, vocab_size: 8192, max_length: 16}",
    )
    train(config)
    from transformers import AutoModel

    trained, _, _ = load_model_file(os.path.join(output, "model.pt"))
    original = AutoModel.from_pretrained(encoder, local_files_only=True).state_dict()
    for name, value in trained.encoder.model.state_dict().items():
        assert torch.equal(value, original[name]), name  # the multilingual encoder stayed frozen
    records = read_metrics(os.path.join(output, "metrics.jsonl"))
    assert len(records) == 4 and all(math.isfinite(r["loss/trikd"]) for r in records)
    assert records[0]["batch_digest"] != records[1]["batch_digest"]


def test_symmetric_infonce_matches_the_definition():
    torch.manual_seed(0)
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    scale = torch.tensor(7.0)
    an, bn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    logits = scale * an @ bn.T
    by_hand = 0.0
    for i in range(6):
        by_hand -= (logits[i, i] - torch.logsumexp(logits[i], 0)) / 12
        by_hand -= (logits[i, i] - torch.logsumexp(logits[:, i], 0)) / 12
    assert torch.isclose(symmetric_infonce(a, b, scale), by_hand, atol=1e-5)
    assert symmetric_infonce(a, a, torch.tensor(100.0)) < 0.01  # perfectly aligned pairs


def test_learnable_temperature_trains_and_fixed_does_not():
    learnable, fixed = Temperature(0.07, True), Temperature(0.01, False)
    assert math.isclose(float(fixed()), 100.0, rel_tol=1e-5) and not list(fixed.parameters())
    optimizer = torch.optim.SGD(learnable.parameters(), lr=0.1)
    a = torch.nn.functional.normalize(torch.eye(4) + 0.1, dim=-1)
    before = float(learnable().detach())
    symmetric_infonce(a, a, learnable()).backward()  # aligned pairs: a sharper scale lowers the loss
    optimizer.step()
    assert float(learnable().detach()) > before


def test_trikd_contrasts_teacher_text_only_on_english_rows(preset, teacher, toy, tmp_path):
    from babelshard.train.data.mixer import MixedStream
    from babelshard.train.models.dual_encoder import VocabInfo
    from babelshard.train.registry import build_model
    from babelshard.train.data.tokenizer import build_tokenizer

    config = preset("mclip", str(tmp_path / "unused"), f"model.teacher={teacher}", "model.encoder=null", *[
        "model.text.width=32", "model.text.heads=2", "model.text.layers=1"])
    tokenizer = build_tokenizer(config.tokenizer)
    model = build_model(config.model, VocabInfo.of(tokenizer))
    dataset = MixedStream(config.data.streams, tokenizer, batches_per_epoch=1)
    batch = next(iter(dataset)).streams["caption"]
    objective = build_objective(config.objectives[0])
    english = [i for i, lang in enumerate(batch.languages) if lang == "en"]
    assert len(english) < len(batch.languages)
    no_english = dataclasses.replace(batch, languages=["de" if lang == "en" else lang for lang in batch.languages])
    assert float(objective(model, no_english)["ttc"]) == 0.0
    all_english = dataclasses.replace(batch, languages=["en"] * len(batch.languages))
    out = objective(model, all_english)
    assert float(out["ttc"]) > 0.0
    assert torch.isclose(out["loss"], out["itc"] + 0.1 * out["ttc"])


def test_unknown_objective_is_a_clear_error(preset, tmp_path):
    with pytest.raises(ValueError, match="registered: .*itc"):
        preset("clip-en", str(tmp_path), "objectives.0.kind=nope")
    assert {"itc", "le", "ucl", "ctl", "nlt", "trikd"} <= set(OBJECTIVES)
