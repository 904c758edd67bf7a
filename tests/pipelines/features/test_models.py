"""The model stages' forward passes equal the libraries' own, on tiny random checkpoints
saved with ``save_pretrained`` and real emoji images (no Beam here)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from babelshard.checkpoints import CheckpointError, weights_checksum
from babelshard.pipelines.features import models as M
from babelshard.pipelines.features.config import FeaturesConfig, GridFeaturesConfig
from babelshard.pipelines.features.models import check_checkpoints
from babelshard.pipelines.features.regions import class_text_embeddings, grid_members

TOLERANCE = 1e-5
TEXTS = ["dog face", "grinning face with big eyes", "cat", "red heart"]
LIBRARY = {"clip": "CLIPModel", "altclip": "AltCLIPModel"}


def reference(checkpoints, name):
    path = checkpoints[name]
    model = getattr(transformers, LIBRARY[name]).from_pretrained(path, local_files_only=True).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
    return model, tokenizer, processor


@pytest.mark.parametrize("name", ["clip", "altclip"])
def test_clip_outputs_equal_the_library_one_input_at_a_time(checkpoints, emoji_records, name):
    loaded = M.load_clip(checkpoints[name])
    assert loaded.checksum == weights_checksum(checkpoints[name]) and loaded.name == name
    model, tokenizer, processor = reference(checkpoints, name)
    images = [M.decode_image(r.image) for r in emoji_records[:5]]
    embeds, pooled = M.clip_image_outputs(loaded, M.pixel_values(loaded, images))
    text_embeds, text_pooled = M.clip_text_outputs(loaded, TEXTS, None)  # one padded batch
    with torch.no_grad():
        for row, image in enumerate(images):
            pixels = processor(images=[image], return_tensors="pt")["pixel_values"]
            vision = model.vision_model(pixel_values=pixels)
            assert np.abs(embeds[row] - model.get_image_features(pixel_values=pixels).pooler_output[0].numpy()).max() <= TOLERANCE
            assert np.abs(pooled[row] - vision.pooler_output[0].numpy()).max() <= TOLERANCE
        for row, text in enumerate(TEXTS):
            inputs = tokenizer([text], return_tensors="pt")  # alone: no padding
            assert np.abs(text_embeds[row] - model.get_text_features(**inputs).pooler_output[0].numpy()).max() <= TOLERANCE
            states = model.text_model(**inputs)
            library_pooled = states.pooler_output if name == "clip" else states.last_hidden_state[:, 0]
            assert np.abs(text_pooled[row] - library_pooled[0].numpy()).max() <= TOLERANCE


@pytest.mark.parametrize("pooling", ["mean", "first"])
def test_sentence_embeddings_are_the_masked_mean_or_first_token_state(checkpoints, pooling):
    loaded = M.load_sentence_encoder(checkpoints["xlmr"])
    found = M.sentence_embeddings(loaded, TEXTS, pooling, 32)
    model = transformers.XLMRobertaModel.from_pretrained(checkpoints["xlmr"], local_files_only=True, add_pooling_layer=False).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoints["xlmr"], local_files_only=True)
    with torch.no_grad():
        for row, text in enumerate(TEXTS):
            states = model(**tokenizer([text], return_tensors="pt")).last_hidden_state[0]
            expected = states.mean(dim=0) if pooling == "mean" else states[0]
            assert np.abs(found[row] - expected.numpy()).max() <= TOLERANCE


def test_grid_features_are_the_patch_states_with_their_boxes_and_class_distributions(checkpoints, emoji_records):
    backbone = M.load_vision_backbone(checkpoints["clip"], with_text=True)
    settings = GridFeaturesConfig(checkpoint=checkpoints["clip"], classes=["red", "green", "blue", "yellow"],
                                  prompt="a {} emoji", max_regions=12)
    classes = class_text_embeddings(backbone, settings.classes, settings.prompt)
    images = [M.decode_image(r.image) for r in emoji_records[:3]]
    pixels = M.pixel_values(backbone, images)
    members = grid_members(backbone, pixels, settings, classes)
    model, tokenizer, _ = reference(checkpoints, "clip")
    with torch.no_grad():
        states = model.vision_model(pixel_values=pixels).last_hidden_state[:, 1:13]
        prompts = model.get_text_features(**tokenizer([f"a {c} emoji" for c in settings.classes], padding=True,
                                                      return_tensors="pt")).pooler_output
        patches = model.visual_projection(model.vision_model.post_layernorm(states))
        logits = model.logit_scale.exp() * torch.nn.functional.normalize(patches, dim=-1) @ \
            torch.nn.functional.normalize(prompts, dim=-1).T
    for row, item in enumerate(members):
        assert set(item) == {"regions", "regions_box", "regions_cls"}
        assert np.abs(item["regions"][0] - states[row].numpy()).max() <= TOLERANCE
        assert np.abs(item["regions_cls"][0] - logits[row].softmax(-1).numpy()).max() <= TOLERANCE
        assert np.allclose(item["regions_cls"][0].sum(axis=1), 1.0, atol=1e-5)
        boxes = item["regions_box"][0]
        assert boxes.shape == (12, 5) and np.allclose(boxes[0], [0, 0, 0.25, 0.25, 1 / 16])  # a 4 x 4 grid of 8 px patches
        assert np.allclose(boxes[5], [0.25, 0.25, 0.5, 0.5, 1 / 16])


def test_checkpoints_of_the_wrong_kind_or_reach_are_one_line_errors(checkpoints, tmp_path):
    with pytest.raises(CheckpointError, match="a 'xlm-roberta' checkpoint; a CLIP model needs clip or altclip"):
        M.load_clip(checkpoints["xlmr"])
    with pytest.raises(CheckpointError, match=f"{tmp_path}: not a transformers checkpoint directory"):
        M.load_sentence_encoder(str(tmp_path))
    if not torch.cuda.is_available():
        with pytest.raises(CheckpointError, match="features.device cuda: torch has no CUDA device here"):
            M.load_clip(checkpoints["clip"], "cuda")
    too_long = FeaturesConfig(clip={"checkpoint": checkpoints["clip"], "max_length": 40})
    with pytest.raises(CheckpointError, match="features.clip.max_length 40 exceeds the 32 text positions of .*clip"):
        check_checkpoints(too_long)
    vision = str(tmp_path / "vision")
    transformers.CLIPVisionModel.from_pretrained(checkpoints["clip"], local_files_only=True).save_pretrained(vision)
    with pytest.raises(CheckpointError, match="features.grid.classes needs a CLIP checkpoint .*'clip_vision_model'"):
        check_checkpoints(FeaturesConfig(grid={"checkpoint": vision, "classes": ["red"]}))
    with pytest.raises(CheckpointError, match="features.grid.checkpoint: .*a 'altclip' checkpoint; a vision backbone"):
        check_checkpoints(FeaturesConfig(grid={"checkpoint": checkpoints["altclip"]}))
    with pytest.raises(CheckpointError, match="features.sentence.checkpoint: .*a 'clip' checkpoint; a text encoder"):
        check_checkpoints(FeaturesConfig(sentence={"checkpoint": checkpoints["clip"]}))
    check_checkpoints(FeaturesConfig(clip={"checkpoint": checkpoints["altclip"], "text_languages": ["en", "de"]},
                                     sentence={"checkpoint": checkpoints["xlmr"]}))
