"""The model stages' models, loaded from local checkpoints through transformers' own
classes, and their forward passes over batches.

| loader | checkpoint (``model_type``) | gives |
|---|---|---|
| :func:`load_clip` | ``clip`` / ``altclip`` (a multilingual text tower) | image and text embeddings (``get_image_features`` / ``get_text_features``) and the pooled features the projections read |
| :func:`load_sentence_encoder` | ``xlm-roberta``, ``bert``, ... | sentence embeddings (mean or first token) |
| :func:`load_vision_backbone` | ``clip``, ``clip_vision_model``, ``vit`` | patch states (grid features) |

Images go through the checkpoint's own image processor, texts through its own
tokenizer. Each loaded model carries its name and :func:`weights_checksum` for the
samples' provenance. No Beam here.
"""
from __future__ import annotations

import io
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from babelshard.checkpoints import CheckpointError, checkpoint_type, no_download, weights_checksum
from babelshard.pipelines.features.config import FeaturesConfig

CLIP_TYPES = ("clip", "altclip")
TEXT_TYPES = ("xlm-roberta", "bert", "roberta", "xlm-roberta-xl", "distilbert")
VISION_TYPES = ("clip", "clip_vision_model", "vit")
ROBERTA_TYPES = ("xlm-roberta", "roberta", "xlm-roberta-xl", "altclip_text_model")  # two positions are reserved
WHAT = {"clip": "a CLIP model", "text": "a text encoder (XLM-R, BERT)",
        "vision": "a vision backbone (CLIP, CLIPVisionModel, ViTModel)"}


@dataclass
class LoadedModel:
    """A model in eval mode on its device, with what reads its inputs and its provenance."""

    name: str
    checksum: str
    model: Any
    device: Any
    tokenizer: Any = None
    processor: Any = None
    model_type: str = ""
    positions: int = 0  # tokens a text may have

    def provenance(self, output: str) -> dict[str, str]:
        return {"model": self.name, "sha256": self.checksum, "output": output}


def model_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


def torch_device(name: str) -> Any:
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CheckpointError(f"features.device {name}: torch has no CUDA device here")
    return torch.device(name)


def _load(path: str, classes: dict[str, str], what: str, device: str, *, tokenizer: bool, processor: bool,
          options: dict[str, dict] | None = None) -> LoadedModel:
    """The checkpoint through the transformers class its ``model_type`` maps to in ``classes``
    (``options`` per class name), with its tokenizer and image processor when asked."""
    model_type = checkpoint_type(path, tuple(classes), what)
    no_download()
    import transformers

    name = classes[model_type]
    model = getattr(transformers, name).from_pretrained(path, local_files_only=True, **(options or {}).get(name, {}))
    target = torch_device(device)
    loaded = LoadedModel(model_name(path), weights_checksum(path), model.eval().to(target), target, model_type=model_type,
                         positions=text_positions(model.config.to_dict()))
    if tokenizer:
        loaded.tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    if processor:
        if not os.path.isfile(os.path.join(path, "preprocessor_config.json")):
            raise CheckpointError(f"{path}: no preprocessor_config.json; {what} needs the checkpoint's image processor")
        loaded.processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
    return loaded


def load_clip(path: str, device: str = "cpu", images: bool = True) -> LoadedModel:
    """A ``CLIPModel`` or ``AltCLIPModel`` with its tokenizer (and image processor)."""
    return _load(path, {"clip": "CLIPModel", "altclip": "AltCLIPModel"}, WHAT["clip"], device,
                 tokenizer=True, processor=images)


def load_sentence_encoder(path: str, device: str = "cpu") -> LoadedModel:
    """A transformers text encoder (XLM-R, BERT) with its tokenizer."""
    return _load(path, {t: "AutoModel" for t in TEXT_TYPES}, WHAT["text"], device,
                 tokenizer=True, processor=False, options={"AutoModel": {"add_pooling_layer": False}})


def load_vision_backbone(path: str, device: str = "cpu", with_text: bool = False) -> LoadedModel:
    """A CLIP (its vision tower; its tokenizer too with ``with_text``), CLIP vision or ViT model."""
    classes = {"clip": "CLIPModel", "clip_vision_model": "CLIPVisionModel", "vit": "ViTModel"}
    return _load(path, classes, WHAT["vision"], device,
                 tokenizer=with_text, processor=True, options={"ViTModel": {"add_pooling_layer": False}})


def decode_image(data: bytes) -> Any:
    """RGB Pillow image; transparent pixels on white (the demo's PNGs are transparent)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def pixel_values(loaded: LoadedModel, images: Sequence[Any]) -> Any:
    """The checkpoint's image processor over ``images``, on the model's device."""
    return loaded.processor(images=list(images), return_tensors="pt")["pixel_values"].to(loaded.device)


@contextmanager
def projection_inputs(module: Any) -> Iterator[list]:
    """What ``module`` (a CLIP projection) is called with during the block: the pooled features."""
    seen: list = []
    handle = module.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def as_numpy(tensor: Any) -> np.ndarray:
    return tensor.detach().float().cpu().numpy()


def clip_image_outputs(clip: LoadedModel, pixels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, pooled features) of a pixel batch: the library's ``get_image_features``,
    and what its ``visual_projection`` read."""
    import torch

    with torch.inference_mode(), projection_inputs(clip.model.visual_projection) as pooled:
        embeds = clip.model.get_image_features(pixel_values=pixels).pooler_output
    return as_numpy(embeds), as_numpy(pooled[0])


def tokenize(loaded: LoadedModel, texts: Sequence[str], max_length: int | None) -> dict:
    """The tokenizer's ids and attention mask, padded to the longest text, truncated to ``max_length``."""
    limit = max_length or model_positions(loaded)
    batch = loaded.tokenizer(list(texts), padding="longest", truncation=True, max_length=limit, return_tensors="pt")
    return {name: batch[name].to(loaded.device) for name in ("input_ids", "attention_mask")}


def text_positions(config: dict) -> int:
    """The tokens a text may have, from a checkpoint's config (its text tower's, for CLIP)."""
    text = config.get("text_config", config)
    model_type = text.get("model_type", config.get("model_type", ""))
    if model_type == "altclip":
        model_type = "altclip_text_model"
    positions = int(text.get("max_position_embeddings", 512))
    return positions - 2 if model_type in ROBERTA_TYPES else positions


def model_positions(loaded: LoadedModel) -> int:
    return loaded.positions


def check_checkpoints(settings: FeaturesConfig) -> None:
    """Before any worker starts (reading config.json only): each checkpoint is of a kind its
    section loads, and its text positions hold the configured ``max_length``. Checkpoints
    at remote URLs are the workers' to check."""
    sections = [("clip", settings.clip, CLIP_TYPES, WHAT["clip"]), ("sentence", settings.sentence, TEXT_TYPES, WHAT["text"]),
                ("grid", settings.grid, VISION_TYPES, WHAT["vision"])]
    if settings.clip_score is not None:
        sections.append(("clip_score", settings.clip_score, CLIP_TYPES, WHAT["clip"]))
    for key, section, types, what in sections:
        path = settings.score_checkpoint if key == "clip_score" else getattr(section, "checkpoint", None)
        if section is None or path is None or "://" in path:
            continue
        try:
            model_type = checkpoint_type(path, types, what)
        except CheckpointError as error:
            raise CheckpointError(f"features.{key}.checkpoint: {error}") from None
        with open(os.path.join(path, "config.json"), encoding="utf-8") as handle:
            positions = text_positions(json.load(handle))
        limit = getattr(section, "max_length", None)
        if limit is not None and types is not VISION_TYPES and limit > positions:
            raise CheckpointError(f"features.{key}.max_length {limit} exceeds the {positions} text positions of {path}")
        if key == "grid" and section.classes and model_type != "clip":
            raise CheckpointError(f"features.grid.classes needs a CLIP checkpoint (its text tower); {path} is {model_type!r}")


def token_lengths(loaded: LoadedModel, texts: Sequence[str], max_length: int | None) -> list[int]:
    limit = max_length or model_positions(loaded)
    ids = loaded.tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
    return [len(row) for row in ids]


def clip_text_outputs(clip: LoadedModel, texts: Sequence[str], max_length: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, pooled features) of texts: the library's ``get_text_features`` with the
    tokenizer's attention mask, and what its ``text_projection`` read."""
    import torch

    inputs = tokenize(clip, texts, max_length)
    with torch.inference_mode(), projection_inputs(clip.model.text_projection) as pooled:
        embeds = clip.model.get_text_features(**inputs).pooler_output
    return as_numpy(embeds), as_numpy(pooled[0])


def sentence_embeddings(encoder: LoadedModel, texts: Sequence[str], pooling: str, max_length: int | None) -> np.ndarray:
    """Mean of the last token states under the attention mask, or the first token's state."""
    import torch

    inputs = tokenize(encoder, texts, max_length)
    with torch.inference_mode():
        states = encoder.model(**inputs).last_hidden_state
        if pooling == "first":
            return as_numpy(states[:, 0])
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
        return as_numpy((states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1))


def vision_tower(backbone: LoadedModel) -> Any:
    return backbone.model.vision_model if backbone.model_type == "clip" else backbone.model


def patch_states(backbone: LoadedModel, pixels: Any) -> Any:
    """The last hidden states of the patches (the class token left out): (batch, patches, width)."""
    import torch

    with torch.inference_mode():
        states = vision_tower(backbone)(pixel_values=pixels).last_hidden_state
    return states[:, 1:]
