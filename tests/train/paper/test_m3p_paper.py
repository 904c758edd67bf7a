"""M3P on its backbone, from a tiny random XLM-R saved with the library's classes and
loaded through configs/paper/train-m3p.yaml, over region features read from caption
shards (regions.npy, regions_box.npy, regions_cls.npy written with the shard writer from
the real toy emoji): the text side starts as XLM-R computes it, MC-MRM regresses the
shards' region features with the detector's class objective, MC-VLM negatives replace the
image or the caption, and the paper-shaped model trains."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from babelshard.records import CaptionView
from babelshard.shards.reader import iter_samples
from babelshard.train.config import EvalConfig, load_train_config
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.tokenizer import build_tokenizer
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.objectives.masking import mask_patches
from babelshard.train.registry import build_model, build_objective

PRESET = Path(__file__).resolve().parents[3] / "configs" / "paper" / "train-m3p.yaml"


def paper_config(toy, region_shards, xlmr, output, *extra):
    return load_train_config(PRESET, [
        f"loop.output={output}", "loop.progress=false", "loop.threads=1", "loop.log_every=1", "loop.precision=fp32",
        "loop.max_steps=3", "loop.epochs=1", "data.workers=0", "optim.warmup_steps=1",
        f"tokenizer.path={xlmr}", "tokenizer.max_length=16", f"model.text_checkpoint.path={xlmr}", "model.embed_dim=32",
        "model.vision={kind: regions, feature_dim: 12, box_dim: 5, classes: 6}",
        f"data.streams.0.folders=[{region_shards}]", "data.streams.0.batch_size=8",
        "data.streams.0.codeswitch.lexicon={lexicons: [{format: cldr}], word_ratio: 0.5}",
        f"data.streams.1.folders=[{toy['text/en']}, {toy['text/de']}, {toy['text/ja']}]", "data.streams.1.batch_size=8",
        *extra,
    ])


@pytest.fixture(scope="module")
def setup(toy, region_shards, paper_checkpoints, tmp_path_factory):
    config = paper_config(toy, region_shards, paper_checkpoints["xlmr"], str(tmp_path_factory.mktemp("m3p")))
    tokenizer = build_tokenizer(config.tokenizer)
    stream = MixedStream(config.data.streams, tokenizer, seed=2, batches_per_epoch=2)
    batches = [b.streams for b in itertools.islice(iter(stream), 2)]
    torch.manual_seed(0)
    return config, tokenizer, batches, build_model(config.model, VocabInfo.of(tokenizer))


def test_regions_come_from_the_shards_members(setup, region_shards):
    _, _, batches, _ = setup
    samples = {s["__key__"]: CaptionView(s) for s in iter_samples(region_shards)}
    caption = batches[0]["caption"]
    counts = (~caption.region_mask).sum(dim=1)
    assert caption.regions.shape[:2] == caption.region_mask.shape and caption.regions.shape[2] == 12
    assert len(set(counts.tolist())) > 1  # images differ in their number of regions: padding is masked
    for row, key in enumerate(caption.keys):
        view, k = samples[key], int(counts[row])
        assert np.array_equal(caption.regions[row, :k].numpy(), view.feature("regions"))
        assert np.array_equal(caption.region_boxes[row, :k].numpy(), view.feature("regions_box"))
        assert np.array_equal(caption.region_classes[row, :k].numpy(), view.feature("regions_cls"))
        assert not caption.regions[row, k:].any()


def test_text_side_starts_as_xlmr_computes_it(setup, paper_checkpoints):
    from transformers import XLMRobertaModel

    _, tokenizer, batches, model = setup
    text = batches[0]["text"]
    reference = XLMRobertaModel.from_pretrained(paper_checkpoints["xlmr"], local_files_only=True).eval()
    model.eval()
    keep = (text.tokens != tokenizer.pad_id).unsqueeze(-1)
    with torch.no_grad():
        ours = model.joint(text.tokens, text.languages, None)
        library = reference(input_ids=text.tokens, attention_mask=keep.squeeze(-1).long()).last_hidden_state
    assert float(((ours - library) * keep).abs().max()) <= 1e-5
    assert not model.language_embedding.weight.any()


@pytest.mark.parametrize("class_loss", ["ce", "kl"])
def test_mrm_regresses_the_shards_region_features_with_the_detector_classes(setup, class_loss):
    """The same masks drawn by hand: the loss is MSE to the masked regions' regions.npy rows
    plus CE with the detector's most likely class (or KL to its distribution); padding is
    never masked."""
    from babelshard.train.objective_config import objective_config

    _, _, batches, model = setup
    caption = batches[0]["caption"]
    objective = build_objective(objective_config(kind="mc_mrm", stream="caption", class_loss=class_loss))
    model.eval()
    torch.manual_seed(7)
    with torch.no_grad():
        out = objective(model, caption)
    torch.manual_seed(7)
    masked = mask_patches(*caption.region_mask.shape, torch.device("cpu"), 0.15, 0.9, maskable=~caption.region_mask)
    assert not (masked.selected & caption.region_mask).any()
    with torch.no_grad():
        states = model.region_states(caption.tokens, caption.languages, caption, masked.zeroed)[masked.selected]
        regression = F.mse_loss(model.region_regressor(states), caption.regions[masked.selected])
        logits = model.region_classifier(states)
        detector = caption.region_classes[masked.selected]
        if class_loss == "ce":
            classes = F.cross_entropy(logits, detector.argmax(dim=-1))
        else:
            classes = F.kl_div(F.log_softmax(logits, dim=-1), detector, reduction="batchmean")
    assert float(out["regression"]) == pytest.approx(float(regression), rel=1e-5)
    assert float(out["classification"]) == pytest.approx(float(classes), rel=1e-5)
    assert float(out["loss"]) == pytest.approx(float(regression + classes), rel=1e-5)


def test_matching_negatives_replace_the_image_or_the_caption(setup):
    config, _, batches, model = setup
    matching = next(o for o in config.objectives if o.kind == "mc_vlm")
    assert (matching.negatives, matching.replace) == (1, "image_or_text")
    torch.manual_seed(3)
    totals = [0.0, 0.0]
    for _ in range(4):
        out = build_objective(matching)(model, batches[0]["caption"])
        totals[0] += float(out["replaced_images"])
        totals[1] += float(out["replaced_texts"])
    assert min(totals) > 0 and sum(totals) == 4 * 8


def test_paper_shaped_m3p_trains_and_leaves_its_checkpoint_alone(toy, region_shards, paper_checkpoints, tmp_path, optimise, digest):
    from babelshard.train.loop.steps import train

    before = digest(paper_checkpoints["xlmr"])
    config = paper_config(toy, region_shards, paper_checkpoints["xlmr"], str(tmp_path / "run"))
    model, losses = optimise(config, steps=30)
    assert all(p.requires_grad for p in model.parameters())  # nothing frozen: M3P trains all of XLM-R
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, (losses[:5], losses[-5:])
    assert train(config).step == 3
    assert digest(paper_checkpoints["xlmr"]) == before


def test_matching_head_evaluation_scores_every_image_by_default(tmp_path):
    assert EvalConfig(folders=[str(tmp_path)]).itm_images is None
    assert EvalConfig(folders=[str(tmp_path)], itm_images=100).itm_images == 100
