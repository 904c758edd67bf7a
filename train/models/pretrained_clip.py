"""A pretrained CLIP as a babelshard model: the ``clip`` kind with a ``checkpoint``, and
the frozen English teacher of MLA and mCLIP.

:class:`PretrainedClipModel` answers what every model answers (``encode_image``,
``encode_text``) with the checkpoint's own towers (:mod:`backbones`), and what the
methods built on CLIP need: the pooled features before the projections and the
projections themselves (mCLIP's CLIP projector), and the text tower's layers (MLA).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from babelshard.train.checkpoint_config import HFClipCheckpoint, OpenClipCheckpoint
from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import ClipModelConfig
from babelshard.train.models.backbones import CheckpointError, HFClipTextTower, clip_towers
from babelshard.train.models.dual_encoder import ClipModel, FrozenAware, VocabInfo, build_clip, freeze, load_frozen_teacher


def check_text_vocabulary(tower: nn.Module, vocab: VocabInfo, where: str) -> None:
    """The tokenizer must fit the checkpoint's token embedding and position table."""
    if not isinstance(tower, HFClipTextTower):
        return
    rows = tower.token_embedding.num_embeddings
    if vocab.size > rows:
        raise CheckpointError(f"{where}: the tokenizer has {vocab.size} tokens, the checkpoint's embedding {rows}; "
                              "use the checkpoint's own tokenizer (tokenizer kind transformers, its path)")
    if vocab.max_length > tower.max_positions:
        raise CheckpointError(f"{where}: tokenizer max_length {vocab.max_length} exceeds the checkpoint's "
                              f"{tower.max_positions} text positions")


class PretrainedClipModel(FrozenAware):
    """A CLIP checkpoint's image and text towers (with their projections)."""

    def __init__(self, checkpoint: HFClipCheckpoint | OpenClipCheckpoint, vocab: VocabInfo):
        super().__init__()
        self.checkpoint_kind = checkpoint.kind
        self.visual, self.text = clip_towers(checkpoint)
        check_text_vocabulary(self.text, vocab, checkpoint.path)

    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        if inputs.image is None:
            raise ValueError("a pretrained CLIP reads pixels: give the caption stream an image section")
        return self.visual(inputs.image)

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text(tokens)

    def _hf(self, what: str) -> None:
        if self.checkpoint_kind != "hf_clip":
            raise CheckpointError(f"{what} needs a Hugging Face CLIP checkpoint (hf_clip); "
                                  "docs/models.md says how to convert an OpenCLIP one")

    def image_features(self, inputs: ImageInputs) -> torch.Tensor:
        self._hf("the CLIP projector")
        return self.visual.features(inputs.image)

    def text_features(self, tokens: torch.Tensor) -> torch.Tensor:
        self._hf("the CLIP projector")
        return self.text.features(tokens)

    @property
    def image_projection(self) -> nn.Module:
        self._hf("the CLIP projector")
        return self.visual.projection

    @property
    def text_projection(self) -> nn.Module:
        self._hf("the CLIP projector")
        return self.text.projection

    @property
    def text_tower(self) -> HFClipTextTower:
        self._hf("MLA's language acquirers")
        return self.text  # type: ignore[return-value]


def build_clip_model(config: ClipModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    """The ``clip`` kind: a pretrained CLIP when ``checkpoint`` is set, else the small dual encoder."""
    if config.checkpoint is not None:
        return PretrainedClipModel(config.checkpoint, vocab)
    return build_clip(config, vocab, teacher_vocab)


def load_teacher(source: str | HFClipCheckpoint | OpenClipCheckpoint, vocab: VocabInfo) -> ClipModel | PretrainedClipModel:
    """A frozen English image-text teacher: a pretrained CLIP checkpoint, or a trained
    ``clip`` model file (whose vocabulary must be the teacher tokenizer's)."""
    if isinstance(source, str):
        return load_frozen_teacher(source, vocab)
    return freeze(PretrainedClipModel(source, vocab))  # type: ignore[return-value]
