"""mCLIP on tiny random checkpoints: the enhanced multilingual text encoder (NMT-decoder
stage, then NMT + 2·CTL from XLM-R on the parallel stream), TriKD with a frozen CLIP and a
frozen encoder (projectors only), the fixed text-text temperature, end-token pooling,
and the multi-positive loss over all captions of an image."""
from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.tokenizer import build_tokenizer
from babelshard.train.loop.metrics import read_metrics
from babelshard.train.loop.steps import train
from babelshard.train.models.backbones import load_hf_clip, load_hf_text
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.objectives.contrastive import multi_positive_infonce, symmetric_infonce
from babelshard.train.registry import build_model, build_objective, load_model_file


def losses(output: str, name: str) -> list[float]:
    return [r[f"loss/{name}"] for r in read_metrics(os.path.join(output, "metrics.jsonl"))]


def assert_goes_down(values: list[float], factor: float = 0.9) -> None:
    first, last = sum(values[:3]) / 3, sum(values[-3:]) / 3
    assert last < factor * first, values


def assert_same_weights(module: torch.nn.Module, reference: dict[str, torch.Tensor], rename=lambda n: n) -> None:
    for name, value in module.state_dict().items():
        assert torch.equal(value, reference[rename(name)]), name


def mte_overrides(toy, checkpoints, *extra: str) -> list[str]:
    xlmr = checkpoints["xlmr"]
    return [f"data.streams.0.folders=[{toy['parallel']}]", "data.streams.0.holdout=0.0",
            f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}",
            f"model={{kind: text, checkpoint: {{kind: hf_text, path: {xlmr}}}, decoder: {{layers: 1, heads: 2, dropout: 0.0}}}}",
            "optim.warmup_steps=0", *extra]


@pytest.fixture(scope="module")
def mte(preset, toy, checkpoints, tmp_path_factory) -> dict[str, str]:
    """The two text-encoder stages on the toy parallel shards (en-de, en-fr, en-ja)."""
    nmt = str(tmp_path_factory.mktemp("mte-nmt"))
    train(preset("mclip-text", nmt, *mte_overrides(toy, checkpoints, "model.freeze_encoder=true",
                                                    "objectives=[{kind: nmt, stream: pairs}]",
                                                    "loop.max_steps=30", "optim.lr=0.05")))
    joint = str(tmp_path_factory.mktemp("mte-joint"))
    train(preset("mclip-text", joint, *mte_overrides(toy, checkpoints, f"model.init={nmt}/model.pt",
                                                     "objectives=[{kind: nmt, stream: pairs, weight: 1.0}, "
                                                     "{kind: ctl, stream: pairs, weight: 2.0, temperature: 0.05}]",
                                                     "loop.max_steps=30", "optim.lr=0.003")))
    return {"nmt": nmt, "joint": joint}


def test_the_nmt_decoder_stage_trains_only_the_decoder(mte, checkpoints):
    assert_goes_down(losses(mte["nmt"], "nmt"), factor=0.95)
    model, _, _ = load_model_file(os.path.join(mte["nmt"], "model.pt"))
    assert_same_weights(model.text.model, load_hf_text(checkpoints["xlmr"]).state_dict())  # XLM-R frozen
    assert model.decoder._embedding[0] is model.text.word_embeddings  # reads and predicts through XLM-R's embeddings


def test_nmt_plus_two_ctl_then_fine_tunes_xlmr(mte, checkpoints):
    records = read_metrics(os.path.join(mte["joint"], "metrics.jsonl"))
    total = [r["loss"] for r in records]
    assert all(abs(r["loss"] - r["loss/nmt"] - 2.0 * r["loss/ctl"]) < 1e-4 for r in records)
    assert_goes_down(total, factor=0.95)
    model, _, _ = load_model_file(os.path.join(mte["joint"], "model.pt"))
    original = load_hf_text(checkpoints["xlmr"]).state_dict()
    assert any(not torch.equal(v, original[k]) for k, v in model.text.model.state_dict().items())


def mclip_overrides(checkpoints, encoder: str, *extra: str) -> list[str]:
    clip, xlmr = checkpoints["clip"], checkpoints["xlmr"]
    return [f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.encoder={encoder}", "model.text.heads=2",
            f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}",
            f"teacher_tokenizer={{kind: transformers, path: {clip}, max_length: 16}}",
            "data.streams.0.image={random_crop: false}", "eval.image={}", "optim.warmup_steps=0", *extra]


def test_trikd_trains_only_the_two_projectors(preset, checkpoints, mte, tmp_path):
    output = str(tmp_path / "mclip")
    train(preset("mclip", output, *mclip_overrides(checkpoints, checkpoints["xlmr"], "loop.max_steps=25",
                                                   "optim.lr=0.003", "data.streams.0.languages=[en,de,fr]")))
    assert_goes_down(losses(output, "trikd"))
    model, _, _ = load_model_file(os.path.join(output, "model.pt"))
    clip = load_hf_clip(checkpoints["clip"]).state_dict()
    tower_name = lambda n: n.split(".", 1)[1] if not n.split(".", 1)[1].startswith("projection.") else \
        f"{n.split('.', 1)[0]}_{n.split('.', 1)[1]}"
    assert_same_weights(model.teacher, clip, tower_name)  # CLIP frozen
    assert_same_weights(model.encoder.model, load_hf_text(checkpoints["xlmr"]).state_dict())  # XLM-R frozen
    assert not torch.equal(model.clip_projector["image"].weight, clip["visual_projection.weight"])  # the CLIP projector trains
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"clip_projector", "projector"}
    # the enhanced encoder from the text stages plugs in as the frozen MTE
    config = preset("mclip", str(tmp_path / "unused"), *mclip_overrides(checkpoints, f"{mte['joint']}/model.pt"))
    enhanced = build_model(config.model, VocabInfo.of(build_tokenizer(config.tokenizer)),
                           VocabInfo.of(build_tokenizer(config.teacher_tokenizer)))
    joint, _, _ = load_model_file(os.path.join(mte["joint"], "model.pt"))
    assert_same_weights(enhanced.encoder, joint.text.state_dict())


def test_the_x_projector_pools_the_end_token(preset, checkpoints):
    config = preset("mclip", "unused", *mclip_overrides(checkpoints, checkpoints["xlmr"]))
    tokenizer = build_tokenizer(config.tokenizer)
    model = build_model(config.model, VocabInfo.of(tokenizer), VocabInfo.of(build_tokenizer(config.teacher_tokenizer)))
    tokens = torch.from_numpy(tokenizer.encode(["dog face", "a grinning face with big eyes"]))
    projector = model.projector
    with torch.no_grad():
        states = model.encoder.token_states(tokens)
        pad = tokens == tokenizer.pad_id
        for block in projector.blocks:
            states = block(states, src_key_padding_mask=pad)
        end = (~pad).sum(dim=1) - 1
        assert (tokens[torch.arange(2), end] == 2).all()  # XLM-R's </s>
        expected = projector.proj(projector.norm(states)[torch.arange(2), end])
        assert torch.allclose(model.encode_text(tokens), expected, atol=1e-6)


def test_the_text_text_term_keeps_its_fixed_temperature(preset, teacher, tmp_path):
    config = preset("mclip", str(tmp_path), f"model.teacher={teacher}", "model.encoder=null", "model.text.width=32",
                    "model.text.heads=2", "model.text.layers=1", "objectives.0.temperature=0.02")
    tokenizer = build_tokenizer(config.tokenizer)
    model = build_model(config.model, VocabInfo.of(tokenizer))
    batch = next(iter(MixedStream(config.data.streams, tokenizer, batches_per_epoch=1))).streams["caption"]
    batch = dataclasses.replace(batch, languages=["en"] * len(batch.languages))
    objective = build_objective(config.objectives[0])
    out = objective(model, batch)
    student = model.encode_text(batch.tokens, batch.languages)
    expected = symmetric_infonce(student, model.encode_teacher_text(batch.teacher_tokens), torch.tensor(1 / 0.07), gather=False)
    assert torch.isclose(out["ttc"], expected.detach(), atol=1e-5)
    assert abs(float(out["logit_scale"]) - 50.0) < 1e-3  # ITC at its own (learnable) temperature


def test_multi_positive_infonce_counts_every_caption_of_an_image():
    torch.manual_seed(0)
    a, b = torch.randn(6, 8), torch.randn(6, 8)
    scale = torch.tensor(10.0)
    distinct = torch.arange(6)
    assert torch.isclose(multi_positive_infonce(a, b, distinct, scale), symmetric_infonce(a, b, scale), atol=1e-6)
    ids = torch.tensor([0, 0, 1, 1, 1, 2])
    an, bn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    by_hand = 0.0
    for logits in (scale * an @ bn.T, scale * bn @ an.T):
        for i in range(6):
            positives = logits[i][ids == ids[i]]
            by_hand -= (torch.logsumexp(positives, 0) - torch.logsumexp(logits[i], 0)) / 12
    assert torch.isclose(multi_positive_infonce(a, b, ids, scale), by_hand, atol=1e-5)
    assert not torch.isclose(multi_positive_infonce(a, b, ids, scale), symmetric_infonce(a, b, scale))


def test_mclip_fine_tuning_treats_all_captions_of_an_image_as_positives(preset, checkpoints, toy, tmp_path):
    output = str(tmp_path / "finetune")
    config = preset("mclip", output, *mclip_overrides(checkpoints, checkpoints["xlmr"], "loop.max_steps=15",
                                                      "optim.lr=0.003", "data.streams.0.batch_size=8",
                                                      "data.streams.0.captions_per_image=4",
                                                      "objectives=[{kind: itc, stream: caption, multi_positive: true}]"))
    tokenizer = build_tokenizer(config.tokenizer)
    batch = next(iter(MixedStream(config.data.streams, tokenizer, build_tokenizer(config.teacher_tokenizer),
                                  batches_per_epoch=1))).streams["caption"]
    assert len(batch.keys) == 32 and len(set(batch.keys)) == 8
    for start in range(0, 32, 4):  # four rows of one image: four different captions, one image
        assert len(set(batch.keys[start:start + 4])) == 1
        assert len({tuple(row) for row in batch.tokens[start:start + 4].tolist()}) == 4
        assert all(torch.equal(batch.image[start], batch.image[start + k]) for k in range(4))
    train(config)
    assert_goes_down(losses(output, "itc"))
