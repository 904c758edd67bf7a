"""Image decoding and transforms with Pillow and NumPy (no torchvision).

Randomness comes from a NumPy ``Generator`` the caller passes in, seeded per batch,
so augmentations are reproducible and need no state in a checkpoint. An
``ImageConfig.processor`` (a pretrained checkpoint's directory) takes size, crop, mean,
std and resampling from its ``preprocessor_config.json``, and resizes as that processor
does (sizes rounded down, one resampling pass), so pixels match the checkpoint's own.
"""
from __future__ import annotations

import functools
import io
import json
import os

import numpy as np
from PIL import Image

from babelshard.errors import UserError
from babelshard.train.data.randaugment import rand_augment
from babelshard.train.stream_config import ImageConfig

Image.MAX_IMAGE_PIXELS = 64_000_000  # refuse decompression bombs (Pillow raises above 2x this)

RESAMPLE = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
# transformers' PILImageResampling codes (Pillow's): NEAREST 0, LANCZOS 1, BILINEAR 2, BICUBIC 3
PROCESSOR_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}
PROCESSOR_FILE = "preprocessor_config.json"


class ProcessorConfigError(UserError):
    """A checkpoint's image processor config that is missing or not a square resize-and-crop."""


def _side(value: object, key: str, path: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, dict) and "shortest_edge" in value:
        return int(value["shortest_edge"])
    if isinstance(value, dict) and value.get("height") == value.get("width") and value.get("height"):
        return int(value["height"])
    raise ProcessorConfigError(f"{path}: {key} {value!r} is not a square size or a shortest edge")


@functools.lru_cache(maxsize=32)
def processor_settings(folder: str) -> dict:
    """The ImageConfig values a checkpoint's ``preprocessor_config.json`` sets."""
    path = os.path.join(folder, PROCESSOR_FILE)
    if not os.path.isfile(path):
        raise ProcessorConfigError(f"{folder}: no {PROCESSOR_FILE} (image.processor needs a checkpoint directory)")
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    resize = _side(data.get("size", 224), "size", path)
    crop = _side(data.get("crop_size", resize), "crop_size", path) if data.get("do_center_crop", True) else resize
    resample = PROCESSOR_RESAMPLE.get(int(data.get("resample", 3)))
    if resample is None:
        raise ProcessorConfigError(f"{path}: resample {data.get('resample')} is not one of {sorted(PROCESSOR_RESAMPLE)}")
    if not data.get("do_normalize", True) or abs(float(data.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-12:
        raise ProcessorConfigError(f"{path}: only processors that rescale by 1/255 and normalize are supported")
    return {"size": crop, "resize": resize, "mean": tuple(data["image_mean"]), "std": tuple(data["image_std"]),
            "resample": resample}


@functools.lru_cache(maxsize=64)
def resolved(config: ImageConfig) -> ImageConfig:
    """``config`` with its processor's settings filled in (itself when it has none)."""
    if config.processor is None:
        return config
    return config.model_copy(update=processor_settings(config.processor))


class ImageDecodeError(ValueError):
    """Bytes that Pillow cannot turn into an RGB image."""


def decode_rgb(data: bytes, background: tuple[int, int, int] = (255, 255, 255), at_least: int | None = None) -> Image.Image:
    """Decode and flatten transparency onto ``background`` (emoji PNGs are RGBA).

    ``at_least``: a JPEG may be decoded at a reduced scale (libjpeg's DCT scaling) as
    long as both sides stay at least this large; the caller resizes further anyway."""
    try:
        image = Image.open(io.BytesIO(data))
        if at_least and image.format == "JPEG":
            image.draft("RGB", (at_least, at_least))
        image.load()
    except Exception as error:  # Pillow raises many types for bad bytes
        raise ImageDecodeError(f"{type(error).__name__}: {error}") from None
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def resize_shorter(image: Image.Image, side: int, resample: str = "bicubic", exact: bool = False) -> Image.Image:
    """Shorter side to ``side``; ``exact``: as transformers' image processors do (the
    longer side rounded down, one resampling pass), else rounded, with Pillow's faster
    reducing gap."""
    width, height = image.size
    if min(width, height) == side:
        return image
    if exact:
        size = (side, int(side * height / width)) if width <= height else (int(side * width / height), side)
        return image.resize(size, RESAMPLE[resample])
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    return image.resize(size, RESAMPLE[resample], reducing_gap=3.0)


def center_box(width: int, height: int, side: int) -> tuple[int, int, int, int]:
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def random_box(width: int, height: int, scale: tuple[float, float], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A square box covering a random fraction of the area, at a random position."""
    area = width * height * rng.uniform(*scale)
    side = max(1, min(width, height, round(area**0.5)))
    left = int(rng.integers(0, width - side + 1))
    top = int(rng.integers(0, height - side + 1))
    return left, top, left + side, top + side


def to_array(image: Image.Image, config: ImageConfig) -> np.ndarray:
    """float32 CHW, normalized with the config's mean and std."""
    array = np.asarray(image, dtype=np.float32) * (1.0 / 255.0)
    array = (array - np.asarray(config.mean, np.float32)) / np.asarray(config.std, np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def transform_image(data: bytes, config: ImageConfig, rng: np.random.Generator | None = None) -> np.ndarray:
    """Decode, resize the shorter side, crop (random resized when configured and ``rng``
    is given, else center) to ``size``, RandAugment (when configured and ``rng`` is
    given), normalize."""
    if config.processor is not None:
        config = resolved(config)
    image = decode_rgb(data, config.background, at_least=(config.resize or config.size) if config.draft else None)
    image = resize_shorter(image, config.resize or config.size, config.resample, exact=config.processor is not None)
    width, height = image.size
    if config.random_crop and rng is not None:
        box = random_box(width, height, config.scale, rng)
        image = image.resize((config.size, config.size), RESAMPLE[config.resample], box=box)
    else:
        image = image.crop(center_box(width, height, config.size))
    if config.randaugment is not None and rng is not None:
        image = rand_augment(image, config.randaugment.num_ops, config.randaugment.magnitude, rng)
    return to_array(image, config)
