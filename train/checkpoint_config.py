"""Typed pointers at pretrained checkpoints on the local disk, one model per kind.

| kind | what | read with |
|---|---|---|
| ``hf_clip`` | a Hugging Face ``CLIPModel`` directory (OpenAI CLIP, LAION CLIP in that format) | ``transformers`` |
| ``open_clip`` | an OpenCLIP architecture name and its weights file | ``open_clip`` (optional) |
| ``hf_text`` | a Hugging Face text encoder directory (XLM-R, M-BERT, BERT) | ``transformers`` |

Nothing is downloaded: every path is a local directory or file
(:mod:`babelshard.train.models.backbones` loads them). This module imports no torch.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from babelshard.configbase import StrictModel


class HFClipCheckpoint(StrictModel):
    kind: Literal["hf_clip"] = "hf_clip"
    path: str = Field(description="a CLIPModel directory: config.json, model.safetensors, preprocessor_config.json")


class OpenClipCheckpoint(StrictModel):
    kind: Literal["open_clip"] = "open_clip"
    model: str = Field(description="OpenCLIP architecture name, e.g. ViT-B-32")
    path: str = Field(description="the weights file (.safetensors, or .pt/.bin read with weights_only)")


class HFTextCheckpoint(StrictModel):
    kind: Literal["hf_text"] = "hf_text"
    path: str = Field(description="a transformers encoder directory (XLM-R, BERT) with its tokenizer files")


ClipCheckpoint = Annotated[Union[HFClipCheckpoint, OpenClipCheckpoint], Field(discriminator="kind")]


def image_processor_path(checkpoint: HFClipCheckpoint | OpenClipCheckpoint | None) -> str | None:
    """The directory whose processor config sets a checkpoint's image preprocessing."""
    return checkpoint.path if isinstance(checkpoint, HFClipCheckpoint) else None
