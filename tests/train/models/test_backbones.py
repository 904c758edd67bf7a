"""Pretrained encoders from local checkpoints: tiny random models saved with the libraries'
own classes, loaded through babelshard's config as a user points at a downloaded
checkpoint; babelshard's embeddings equal the library's forward pass on the same inputs."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from babelshard.configbase import ConfigError, parse_config
from babelshard.shards.reader import iter_records
from babelshard.train.config import load_train_config
from babelshard.train.data.tokenizer import build_tokenizer
from babelshard.train.data.transforms import transform_image
from babelshard.train.data.batches import ImageInputs
from babelshard.train.models.backbones import CheckpointError, HFTextEncoder, load_hf_clip
from babelshard.train.models.dual_encoder import VocabInfo
from babelshard.train.registry import build_model
from babelshard.train.stream_config import ImageConfig

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "configs")
TOLERANCE = 1e-5
SENTENCES = ["a grinning face with big eyes", "dog", "Hund Gesicht", "visage souriant", "猫の顔", ""]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max())


def clip_config(checkpoints, toy, tmp_path, *overrides):
    """configs/train-clip-en.yaml pointed at the tiny CLIP checkpoint and its tokenizer."""
    path = checkpoints["clip"]
    return load_train_config(os.path.join(CONFIGS, "train-clip-en.yaml"), [
        f"loop.output={tmp_path}", f"data.streams.0.folders=[{toy['caption']}]",
        f"model={{kind: clip, checkpoint: {{kind: hf_clip, path: {path}}}}}",
        f"tokenizer={{kind: transformers, path: {path}, max_length: 24}}",
        "data.streams.0.image={random_crop: false}", "eval.image={}", *overrides,
    ])


def test_hf_clip_towers_equal_the_library_forward_pass(checkpoints, toy, tmp_path):
    config = clip_config(checkpoints, toy, tmp_path)
    tokenizer = build_tokenizer(config.tokenizer)
    model = build_model(config.model, VocabInfo.of(tokenizer)).eval()
    reference = load_hf_clip(checkpoints["clip"])
    images = [r.image for r in list(iter_records(toy["caption"]))[:4]]
    pixels = torch.from_numpy(np.stack([transform_image(b, config.data.streams[0].image) for b in images]))
    tokens = torch.from_numpy(tokenizer.encode(SENTENCES))
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(checkpoints["clip"], local_files_only=True)(
        SENTENCES, padding="max_length", max_length=24, truncation=True, return_tensors="pt")
    assert torch.equal(tokens, hf["input_ids"])  # the checkpoint's tokenizer, as the library calls it
    with torch.no_grad():
        assert max_diff(model.encode_image(ImageInputs(image=pixels)), reference.get_image_features(pixel_values=pixels).pooler_output) <= TOLERANCE
        library_text = reference.get_text_features(**hf).pooler_output  # with the tokenizer's attention mask
        assert max_diff(model.encode_text(tokens), library_text) <= TOLERANCE


def test_the_caption_stream_reads_images_as_the_checkpoint_processor_does(checkpoints, toy, tmp_path):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    config = clip_config(checkpoints, toy, tmp_path)
    image = config.data.streams[0].image
    assert image.processor == checkpoints["clip"] and config.eval.image.processor == checkpoints["clip"]
    processor = CLIPImageProcessorPil.from_pretrained(checkpoints["clip"], local_files_only=True)
    rng = np.random.default_rng(0)
    for height, width in [(50, 70), (90, 41), (36, 36), (64, 33)]:
        pixels = (rng.random((height, width, 3)) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        ours = transform_image(buffer.getvalue(), image)
        theirs = processor(images=[Image.fromarray(pixels)], return_tensors="np")["pixel_values"][0]
        assert ours.shape == theirs.shape == (3, 32, 32) and float(np.abs(ours - theirs).max()) <= TOLERANCE
    explicit = clip_config(checkpoints, toy, tmp_path, "data.streams.0.image={size: 32, resize: 40}")
    assert explicit.data.streams[0].image.processor is None  # a stream that sets its own sizes keeps them
    with pytest.raises(ConfigError, match="processor .* sets size; leave them out"):
        parse_config(ImageConfig, {"processor": checkpoints["clip"], "size": 64})


@pytest.mark.parametrize("name,library", [("xlmr", "XLMRobertaModel"), ("mbert", "BertModel")])
def test_text_encoders_equal_the_library_forward_pass(checkpoints, name, library):
    import transformers

    path = checkpoints[name]
    tokenizer = build_tokenizer(load_train_config(os.path.join(CONFIGS, "train-clip-en.yaml"), [
        f"tokenizer={{kind: transformers, path: {path}, max_length: 20}}"]).tokenizer)
    encoder = HFTextEncoder.from_path(path, tokenizer.pad_id)
    assert type(encoder.model).__name__ == library
    reference = getattr(transformers, library).from_pretrained(path, local_files_only=True).eval()
    hf = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)(
        SENTENCES, padding="max_length", max_length=20, truncation=True, return_tensors="pt")
    tokens = torch.from_numpy(tokenizer.encode(SENTENCES))
    assert torch.equal(tokens, hf["input_ids"])
    with torch.no_grad():
        states = reference(**hf).last_hidden_state
        assert max_diff(encoder.token_states(tokens), states) <= TOLERANCE
        assert max_diff(encoder(tokens), states[:, 0]) <= TOLERANCE


def test_checkpoint_errors_are_one_line_naming_the_path(checkpoints, tmp_path):
    with pytest.raises(CheckpointError, match=f"{tmp_path}: not a transformers checkpoint directory"):
        load_hf_clip(str(tmp_path))
    with pytest.raises(CheckpointError, match="a 'xlm-roberta' checkpoint; a CLIP model needs clip"):
        load_hf_clip(checkpoints["xlmr"])
    with pytest.raises(CheckpointError, match="a 'clip' checkpoint; a text encoder"):
        HFTextEncoder.from_path(checkpoints["clip"])


def test_open_clip_checkpoints_name_the_package_when_it_is_missing(tmp_path):
    try:
        import open_clip  # noqa: F401
        pytest.skip("open_clip_torch is installed here")
    except ImportError:
        pass
    from babelshard.train.checkpoint_config import OpenClipCheckpoint
    from babelshard.train.models.backbones import load_open_clip

    weights = tmp_path / "open_clip_model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(CheckpointError, match="need the open_clip_torch package"):
        load_open_clip(OpenClipCheckpoint(model="ViT-B-32", path=str(weights)))


def test_a_checkpoint_fixes_the_architecture(checkpoints, toy, tmp_path):
    with pytest.raises(ConfigError, match="embed_dim cannot be set with a checkpoint"):
        clip_config(checkpoints, toy, tmp_path, "model.embed_dim=32")
    config = clip_config(checkpoints, toy, tmp_path, "tokenizer={kind: hash, vocab_size: 8192, max_length: 16}")
    with pytest.raises(CheckpointError, match="the tokenizer has 8192 tokens, the checkpoint's embedding 75"):
        build_model(config.model, VocabInfo.of(build_tokenizer(config.tokenizer)))
