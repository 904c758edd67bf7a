"""The unified mVLP on its backbones, from tiny random checkpoints saved with the
libraries' classes and loaded through configs/paper/train-unified.yaml as a user's: the
text encoder is XLM-R's lower layers, the fusion encoder its upper layers with
cross-attention starting as a copy of self-attention, the image encoder a CLIP or ViT
checkpoint; the paper-shaped model trains and leaves the checkpoints as they were."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from babelshard.configbase import ConfigError
from babelshard.shards.reader import iter_records
from babelshard.train.config import load_train_config
from babelshard.train.data.batches import ImageInputs
from babelshard.train.data.tokenizer import build_tokenizer
from babelshard.train.data.transforms import transform_image
from babelshard.train.models.backbones import CheckpointError
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.registry import build_model

TOLERANCE = 1e-5
SENTENCES = ["a grinning face with big eyes", "dog", "Hund Gesicht", "visage souriant", ""]


def paper_config(toy, checkpoints, output, *extra):
    """configs/paper/train-unified.yaml pointed at the tiny checkpoints and the toy shards."""
    from pathlib import Path

    preset = Path(__file__).resolve().parents[3] / "configs" / "paper" / "train-unified.yaml"
    xlmr, clip = checkpoints["xlmr"], checkpoints["clip"]
    return load_train_config(preset, [
        f"loop.output={output}", "loop.progress=false", "loop.threads=1", "loop.log_every=1", "loop.precision=fp32",
        "loop.max_steps=3", "loop.epochs=1", "data.workers=0", "optim.warmup_steps=1",
        f"tokenizer.path={xlmr}", "tokenizer.max_length=24",
        f"model.text_checkpoint.path={xlmr}", "model.text_layers=2", f"model.image_checkpoint.path={clip}",
        f"data.streams.0.folders=[{toy['caption']}]", "data.streams.0.batch_size=8", "data.streams.0.max_length=16",
        f"data.streams.1.folders=[{toy['parallel']}]", "data.streams.1.batch_size=12", "data.streams.1.max_length=16",
        f"data.streams.2.folders=[{toy['text/en']}, {toy['text/de']}, {toy['text/ja']}]", "data.streams.2.batch_size=12",
        *extra,
    ])


@pytest.fixture(scope="module")
def built(toy, paper_checkpoints, tmp_path_factory):
    config = paper_config(toy, paper_checkpoints, str(tmp_path_factory.mktemp("unified")))
    tokenizer = build_tokenizer(config.tokenizer)
    torch.manual_seed(0)
    return config, tokenizer, build_model(config.model, VocabInfo.of(tokenizer)).eval()


def xlmr_hidden_states(path: str, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
    from transformers import XLMRobertaModel

    reference = XLMRobertaModel.from_pretrained(path, local_files_only=True).eval()
    with torch.no_grad():
        return reference(input_ids=tokens, attention_mask=(tokens != 1).long(), output_hidden_states=True).hidden_states


def test_text_encoder_is_xlmr_lower_layers_and_fusion_its_upper_layers(built, paper_checkpoints):
    config, tokenizer, model = built
    tokens = torch.from_numpy(tokenizer.encode(SENTENCES))
    hidden = xlmr_hidden_states(paper_checkpoints["xlmr"], tokens)
    keep = (tokens != tokenizer.pad_id).unsqueeze(-1)  # the library's outputs at padding are not defined by its mask
    with torch.no_grad():
        text = model.text_states(tokens)
        assert float(((text - hidden[2]) * keep).abs().max()) <= TOLERANCE
        assert float(((model.fused_text(tokens, None, None) - hidden[4]) * keep).abs().max()) <= TOLERANCE  # no context: XLM-R
        first = model.text_proj(text[:, 0])
        assert torch.equal(model.encode_text(tokens), first)  # the <s> token


def test_cross_attention_starts_as_the_layers_self_attention(built, paper_checkpoints):
    from transformers import XLMRobertaModel

    _, _, model = built
    reference = XLMRobertaModel.from_pretrained(paper_checkpoints["xlmr"], local_files_only=True)
    assert len(model.text_encoder.layers) == len(model.fusion.layers) == 2
    for index, layer in enumerate(model.fusion.layers):
        library = reference.encoder.layer[2 + index].attention.state_dict()
        for name, tensor in layer.cross_attention.state_dict().items():
            assert torch.equal(tensor, layer.attention.state_dict()[name]) and torch.equal(tensor, library[name]), name
        assert layer.cross_attention is not layer.attention


def test_image_encoder_is_the_checkpoints(built, paper_checkpoints, toy, tmp_path):
    """CLIP: the class token after post_layernorm is CLIPVisionModel's pooled output; a
    ViTModel directory (kind hf_vision) gives ViTModel's own states, images read by its processor."""
    from transformers import CLIPModel, ViTModel

    config, tokenizer, model = built
    images = [r.image for r in list(iter_records(toy["caption"]))[:4]]
    pixels = torch.from_numpy(np.stack([transform_image(b, config.data.streams[0].image) for b in images]))
    assert config.data.streams[0].image.processor == paper_checkpoints["clip"]
    clip = CLIPModel.from_pretrained(paper_checkpoints["clip"], local_files_only=True).eval()
    with torch.no_grad():
        pooled = clip.vision_model(pixel_values=pixels).pooler_output
        assert float((model.visual.states(pixels)[:, 0] - pooled).abs().max()) <= TOLERANCE
    vit = paper_checkpoints["vit"]
    with_vit = paper_config(toy, paper_checkpoints, str(tmp_path), f"model.image_checkpoint={{kind: hf_vision, path: {vit}}}")
    assert with_vit.data.streams[0].image.processor == vit  # images as the image checkpoint's processor reads them
    vit_model = build_model(with_vit.model, VocabInfo.of(tokenizer)).eval()
    pixels = torch.from_numpy(np.stack([transform_image(b, with_vit.data.streams[0].image) for b in images]))
    library = ViTModel.from_pretrained(vit, local_files_only=True, add_pooling_layer=False).eval()
    with torch.no_grad():
        assert float((vit_model.visual.states(pixels) - library(pixel_values=pixels).last_hidden_state).abs().max()) <= TOLERANCE
        assert vit_model.encode_image(ImageInputs(image=pixels)).shape == (4, 256)


def test_paper_shaped_unified_trains_and_leaves_its_checkpoints_alone(toy, paper_checkpoints, tmp_path, optimise, digest):
    """Nothing of the unified model is frozen (the paper trains every part); the user's
    checkpoint folders stay byte-identical, through the optimiser and through the loop."""
    from babelshard.train.loop.steps import train

    before = {name: digest(path) for name, path in paper_checkpoints.items()}
    config = paper_config(toy, paper_checkpoints, str(tmp_path / "run"))
    model, losses = optimise(config, steps=30)
    assert all(p.requires_grad for p in model.parameters())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, (losses[:5], losses[-5:])
    state = train(config)
    assert state.step == 3 and (tmp_path / "run" / "model.pt").exists()
    assert {name: digest(path) for name, path in paper_checkpoints.items()} == before


def test_the_checkpoint_fixes_the_architecture(toy, paper_checkpoints, tmp_path):
    with pytest.raises(ConfigError, match="only text.pool applies"):
        paper_config(toy, paper_checkpoints, str(tmp_path), "model.text={width: 64}")
    config = paper_config(toy, paper_checkpoints, str(tmp_path), "model.text_layers=4")
    with pytest.raises(CheckpointError, match="has 4 layers: text_layers must leave at least one for fusion"):
        build_model(config.model, VocabInfo.of(build_tokenizer(config.tokenizer)))
