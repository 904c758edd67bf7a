"""Image encoders that give every output state (class token first, then patches): a
pretrained one from a local checkpoint (a ``CLIPModel``'s vision tower, a ``ViTModel``
or a ``CLIPVisionModel``, the library's modules) or the small ViT trained from scratch.
``states(pixels)`` is (batch, 1 + patches, width), after the encoder's final norm.
"""
from __future__ import annotations

import torch
from torch import nn

from babelshard.train.checkpoint_config import HFClipCheckpoint
from babelshard.train.model_config import HFVisionCheckpoint, ViTConfig
from babelshard.train.models.backbones import checkpoint_type, load_hf_clip
from babelshard.train.models.encoders import TinyViT
from babelshard.train.models.fusion import vit_states

VISION_TYPES = ("vit", "clip_vision_model")


def load_hf_vision(path: str) -> nn.Module:
    """A ``ViTModel`` (no pooler) or ``CLIPVisionModel`` from a local directory, in eval mode."""
    model_type = checkpoint_type(path, VISION_TYPES, "an image encoder (ViTModel, CLIPVisionModel)")
    from transformers import AutoModel

    options = {"add_pooling_layer": False} if model_type == "vit" else {}
    return AutoModel.from_pretrained(path, local_files_only=True, **options).eval()


class PretrainedImageEncoder(nn.Module):
    def __init__(self, checkpoint: HFClipCheckpoint | HFVisionCheckpoint):
        super().__init__()
        if isinstance(checkpoint, HFClipCheckpoint):
            self.encoder, self.clip_like = load_hf_clip(checkpoint.path).vision_model, True
        else:
            model = load_hf_vision(checkpoint.path)
            self.clip_like = hasattr(model, "vision_model")
            self.encoder = model.vision_model if self.clip_like else model
        self.width = int(self.encoder.config.hidden_size)

    def states(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(pixel_values=pixels).last_hidden_state
        # CLIP normalises only its pooled class token; ViTModel's output is already normalised
        return self.encoder.post_layernorm(hidden) if self.clip_like else hidden


class SmallImageEncoder(nn.Module):
    """The small ViT (:class:`TinyViT`) trained from scratch."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.vit = TinyViT(config)
        self.width = config.width

    def states(self, pixels: torch.Tensor) -> torch.Tensor:
        return vit_states(self.vit, pixels)


def image_encoder(checkpoint: HFClipCheckpoint | HFVisionCheckpoint | None, config: ViTConfig) -> nn.Module:
    return SmallImageEncoder(config) if checkpoint is None else PretrainedImageEncoder(checkpoint)
