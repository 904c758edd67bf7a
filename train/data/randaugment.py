"""RandAugment (Cubuk et al., 2020) with Pillow: ``num_ops`` operations drawn uniformly
(with replacement) from the standard list, each at one shared ``magnitude`` on a 0-30
scale; signed operations (rotate, shear, translate, the enhancers) take a random sign.

Ranges at the top magnitude follow the paper's list as torchvision implements it:
rotate 30°, shear 0.3, translate 150/331 of the side, enhancement factor 1 ± 0.9,
posterize down to 4 bits, solarize threshold from 256 (nothing inverted) down to 0. Randomness comes from the
caller's NumPy generator (one per batch), so augmentations are reproducible.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

MAX_MAGNITUDE = 30
FILL = (128, 128, 128)  # what geometric operations leave outside the image

Operation = Callable[[Image.Image, float], Image.Image]


def _affine(image: Image.Image, matrix: tuple[float, ...]) -> Image.Image:
    return image.transform(image.size, Image.AFFINE, matrix, resample=Image.NEAREST, fillcolor=FILL)


def _enhance(enhancer: type) -> Operation:
    return lambda image, level: enhancer(image).enhance(1.0 + 0.9 * level)


OPERATIONS: dict[str, Operation] = {
    "identity": lambda image, level: image,
    "autocontrast": lambda image, level: ImageOps.autocontrast(image),
    "equalize": lambda image, level: ImageOps.equalize(image),
    "rotate": lambda image, level: image.rotate(30.0 * level, resample=Image.NEAREST, fillcolor=FILL),
    "solarize": lambda image, level: ImageOps.solarize(image, int(round(256 * (1 - abs(level))))),
    "color": _enhance(ImageEnhance.Color),
    "posterize": lambda image, level: ImageOps.posterize(image, 8 - int(4 * abs(level))),
    "contrast": _enhance(ImageEnhance.Contrast),
    "brightness": _enhance(ImageEnhance.Brightness),
    "sharpness": _enhance(ImageEnhance.Sharpness),
    "shear_x": lambda image, level: _affine(image, (1, 0.3 * level, 0, 0, 1, 0)),
    "shear_y": lambda image, level: _affine(image, (1, 0, 0, 0.3 * level, 1, 0)),
    "translate_x": lambda image, level: _affine(image, (1, 0, 150 / 331 * image.size[0] * level, 0, 1, 0)),
    "translate_y": lambda image, level: _affine(image, (1, 0, 0, 0, 1, 150 / 331 * image.size[1] * level)),
}
UNSIGNED = frozenset({"identity", "autocontrast", "equalize", "solarize", "posterize"})


def draw_operations(num_ops: int, magnitude: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    """``num_ops`` (name, level) pairs; level is magnitude / 30 with a random sign for signed operations."""
    names = list(OPERATIONS)
    chosen = []
    for _ in range(num_ops):
        name = names[int(rng.integers(len(names)))]
        sign = 1.0 if name in UNSIGNED or rng.random() < 0.5 else -1.0
        chosen.append((name, sign * magnitude / MAX_MAGNITUDE))
    return chosen


def rand_augment(image: Image.Image, num_ops: int, magnitude: int, rng: np.random.Generator) -> Image.Image:
    """The RGB image after ``num_ops`` random operations at ``magnitude``."""
    for name, level in draw_operations(num_ops, magnitude, rng):
        image = OPERATIONS[name](image, level)
    return image
