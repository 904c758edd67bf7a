"""Grid features (M3P's image regions where no detector runs): one region per patch of a
vision backbone, as the ``.npy`` members the trainer's region streams read.

| member | shape | content |
|---|---|---|
| ``<name>`` | [k, d] | the patch's last hidden state |
| ``<name>_box`` | [k, 5] | the patch's box, normalised x1 y1 x2 y2, and its area |
| ``<name>_cls`` | [k, C] | with ``classes`` (CLIP only): softmax over the classes of the patch's projected state against each class name's text embedding, at CLIP's logit scale |

A torchvision detector is not offered: on this project's CPU-only torch, torchvision
installs only with a CUDA build of torch.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from babelshard.checkpoints import CheckpointError
from babelshard.pipelines.features import models as M
from babelshard.pipelines.features.config import GridFeaturesConfig


def grid_boxes(patches: int) -> np.ndarray:
    """[patches, 5]: x1 y1 x2 y2 (normalised) and area of each cell of a square grid, row by row."""
    side = math.isqrt(patches)
    if side * side != patches:
        raise ValueError(f"{patches} patches do not form a square grid")
    rows, cols = np.divmod(np.arange(patches), side)
    area = np.full(patches, 1.0 / patches)
    return np.stack([cols / side, rows / side, (cols + 1) / side, (rows + 1) / side, area], axis=1).astype(np.float32)


def class_text_embeddings(backbone: M.LoadedModel, classes: Sequence[str], prompt: str) -> np.ndarray:
    """Normalised text embeddings of the prompted class names, by the CLIP checkpoint's text tower."""
    if backbone.model_type != "clip":
        raise CheckpointError(f"grid.classes needs a CLIP checkpoint (its text tower); {backbone.name} is {backbone.model_type!r}")
    embeds, _ = M.clip_text_outputs(backbone, [prompt.format(name) for name in classes], None)
    return embeds / np.maximum(np.linalg.norm(embeds, axis=1, keepdims=True), 1e-12)


def patch_class_distributions(backbone: M.LoadedModel, states: Any, class_embeddings: np.ndarray) -> np.ndarray:
    """(batch, patches, classes): each patch state through CLIP's ``post_layernorm`` and
    ``visual_projection``, cosine to the class embeddings at the checkpoint's logit scale, softmax."""
    import torch

    clip = backbone.model
    with torch.inference_mode():
        projected = clip.visual_projection(clip.vision_model.post_layernorm(states))
        projected = torch.nn.functional.normalize(projected, dim=-1)
        logits = clip.logit_scale.exp() * projected @ torch.as_tensor(class_embeddings, device=projected.device).T
        return M.as_numpy(logits.softmax(dim=-1))


def grid_members(backbone: M.LoadedModel, pixels: Any, settings: GridFeaturesConfig,
                 class_embeddings: np.ndarray | None) -> list[dict[str, tuple[np.ndarray, str]]]:
    """Per image of the batch: member -> (array, output kind)."""
    states = M.patch_states(backbone, pixels)
    keep = slice(0, settings.max_regions)
    features = M.as_numpy(states)[:, keep]
    boxes = grid_boxes(states.shape[1])[keep]
    classes = None
    if class_embeddings is not None:
        classes = patch_class_distributions(backbone, states, class_embeddings)[:, keep]
    members = []
    for row in range(features.shape[0]):
        item = {settings.name: (features[row], "grid"), f"{settings.name}_box": (boxes, "grid_box")}
        if classes is not None:
            item[f"{settings.name}_cls"] = (classes[row], "grid_classes")
        members.append(item)
    return members
