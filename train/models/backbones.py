"""Pretrained encoders from local checkpoints, through the libraries' own classes.

| loader | checkpoint | gives |
|---|---|---|
| :func:`load_hf_clip` | a ``CLIPModel`` directory (``hf_clip``) | :class:`HFClipImageTower`, :class:`HFClipTextTower` |
| :func:`load_open_clip` | an OpenCLIP name + weights file (``open_clip``) | :class:`OpenClipImageTower`, :class:`OpenClipTextTower` |
| :func:`load_hf_text` | an ``XLMRobertaModel`` / ``BertModel`` directory (``hf_text``) | :class:`HFTextEncoder` |

Every tower's ``forward`` is the library's own forward pass (``CLIPModel.get_image_features``
/ ``get_text_features``, OpenCLIP's ``encode_image`` / ``encode_text``, the encoder's
``last_hidden_state``), so its embeddings are the checkpoint's. CLIP towers also expose
the parts a method builds on: ``features`` (pooled, before the projection) and
``projection`` (the CLIP projector), and the text tower runs its layers with an adapter
after each (:meth:`HFClipTextTower.adapted`, MLA's language acquirers).

Loading never downloads (``local_files_only=True``) and reads weights only: safetensors,
or ``torch.load(weights_only=True)`` for ``.bin``/``.pt`` files.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable

import torch
from torch import nn

from babelshard.errors import UserError
from babelshard.train.checkpoint_config import HFClipCheckpoint, OpenClipCheckpoint

Adapter = Callable[[int, torch.Tensor], torch.Tensor]
CLIP_TYPES = ("clip",)
TEXT_TYPES = ("xlm-roberta", "bert", "roberta", "xlm-roberta-xl", "distilbert")


class CheckpointError(UserError):
    """A checkpoint path that is missing, of the wrong kind, or needs a package not installed."""


def checkpoint_type(path: str, expected: tuple[str, ...], what: str) -> str:
    """The ``model_type`` of a transformers directory, which must be one of ``expected``."""
    config = os.path.join(path, "config.json")
    if not os.path.isfile(config):
        raise CheckpointError(f"{path}: not a transformers checkpoint directory (no config.json); {what}")
    with open(config, encoding="utf-8") as handle:
        model_type = json.load(handle).get("model_type", "")
    if model_type not in expected:
        raise CheckpointError(f"{path}: a {model_type or 'unknown'!r} checkpoint; {what} needs {' or '.join(expected)}")
    return model_type


def _no_download() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    logging.disable_progress_bar()  # a per-file bar for every local load is noise in a training log


def load_hf_clip(path: str) -> Any:
    """A ``transformers.CLIPModel`` from a local directory, in eval mode."""
    checkpoint_type(path, CLIP_TYPES, "a CLIP model")
    _no_download()
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(path, local_files_only=True).eval()


def load_hf_text(path: str) -> Any:
    """A transformers text encoder (``AutoModel``: XLM-R, BERT, ...) from a local directory, in eval mode."""
    checkpoint_type(path, TEXT_TYPES, "a text encoder (XLM-R, BERT)")
    _no_download()
    from transformers import AutoModel

    return AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False).eval()


def load_open_clip(checkpoint: OpenClipCheckpoint) -> Any:
    """An OpenCLIP model (architecture by name, weights from the local file), in eval mode."""
    if not os.path.isfile(checkpoint.path):
        raise CheckpointError(f"{checkpoint.path}: OpenCLIP weights file not found")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import open_clip
    except ImportError:
        raise CheckpointError("open_clip checkpoints need the open_clip_torch package (docs/models.md: its CPU install line)") from None
    model = open_clip.create_model(checkpoint.model, pretrained=checkpoint.path, load_weights=True, weights_only=True,
                                   pretrained_image=False, pretrained_text=False, require_pretrained=True)
    return model.eval()


class HFClipImageTower(nn.Module):
    """CLIP's vision transformer and ``visual_projection`` (the library's modules)."""

    def __init__(self, clip: Any):
        super().__init__()
        self.vision_model, self.projection = clip.vision_model, clip.visual_projection
        self.width, self.embed_dim = int(clip.vision_embed_dim), int(clip.projection_dim)
        self.image_size = int(clip.config.vision_config.image_size)

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The pooled class token after ``post_layernorm``, before the projection."""
        return self.vision_model(pixel_values=pixels).pooler_output

    def token_states(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.vision_model(pixel_values=pixels).last_hidden_state

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.projection(self.features(pixels))


class HFClipTextTower(nn.Module):
    """CLIP's text transformer and ``text_projection``; pooled at the end token as the library does."""

    def __init__(self, clip: Any):
        super().__init__()
        self.text_model, self.projection = clip.text_model, clip.text_projection
        self.width, self.embed_dim = int(clip.text_embed_dim), int(clip.projection_dim)
        self.max_positions = int(clip.config.text_config.max_position_embeddings)
        self.layers = len(self.text_model.encoder.layers)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        # No padding mask: under the causal mask, the pooled end token never sees the padding after it.
        return self.text_model(input_ids=tokens).pooler_output

    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text_model(input_ids=tokens).last_hidden_state

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.projection(self.features(tokens))

    @property
    def token_embedding(self) -> nn.Embedding:
        return self.text_model.embeddings.token_embedding

    def adapted(self, embeddings: torch.Tensor, pool_at: torch.Tensor, adapter: Adapter | None = None) -> torch.Tensor:
        """The projected embedding of token vectors ``embeddings`` (CLIP's position
        embeddings added, the library's layers under its causal mask, ``adapter(layer,
        states)`` after each layer, the final norm), pooled at position ``pool_at`` per row."""
        from transformers.masking_utils import create_causal_mask

        if embeddings.shape[1] > self.max_positions:
            raise ValueError(f"{embeddings.shape[1]} tokens; the CLIP text tower has {self.max_positions} positions")
        text = self.text_model
        states = text.embeddings(inputs_embeds=embeddings)
        mask = create_causal_mask(config=text.config, inputs_embeds=states, attention_mask=None, cache=None)
        for index, layer in enumerate(text.encoder.layers):
            states = layer(states, mask, is_causal=True)
            if adapter is not None:
                states = adapter(index, states)
        states = text.final_layer_norm(states)
        pooled = states[torch.arange(states.shape[0], device=states.device), pool_at]
        return self.projection(pooled)


class OpenClipImageTower(nn.Module):
    """An OpenCLIP model's image side: ``encode_image`` as the library computes it."""

    def __init__(self, model: Any):
        super().__init__()
        self.model = model
        self.embed_dim = int(model.text_projection.shape[-1]) if model.text_projection is not None else 0

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)


class OpenClipTextTower(nn.Module):
    """An OpenCLIP model's text side (shares the model with the image tower: no second copy)."""

    def __init__(self, image_tower: OpenClipImageTower):
        super().__init__()
        self._image_tower = [image_tower]  # a list, so the weights are registered once, under the image tower
        self.embed_dim = image_tower.embed_dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._image_tower[0].model.encode_text(tokens)


def clip_towers(checkpoint: HFClipCheckpoint | OpenClipCheckpoint) -> tuple[nn.Module, nn.Module]:
    """(image tower, text tower) of a CLIP checkpoint of either kind."""
    if isinstance(checkpoint, OpenClipCheckpoint):
        image = OpenClipImageTower(load_open_clip(checkpoint))
        return image, OpenClipTextTower(image)
    clip = load_hf_clip(checkpoint.path)
    return HFClipImageTower(clip), HFClipTextTower(clip)


class HFTextEncoder(nn.Module):
    """A transformers text encoder (XLM-R, BERT): token states under the padding mask;
    ``forward`` is the first (``<s>`` / ``[CLS]``) token's state."""

    def __init__(self, model: Any, pad_id: int):
        super().__init__()
        self.model, self.pad_id = model, pad_id
        self.width = int(model.config.hidden_size)

    @classmethod
    def from_path(cls, path: str, pad_id: int | None = None) -> "HFTextEncoder":
        model = load_hf_text(path)
        return cls(model, int(model.config.pad_token_id if pad_id is None else pad_id))

    def attention_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens != self.pad_id).long()

    def token_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=tokens, attention_mask=self.attention_mask(tokens)).last_hidden_state

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.token_states(tokens)[:, 0]

    @property
    def word_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()
