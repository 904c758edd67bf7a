"""Image decoding and transforms with Pillow and NumPy (no torchvision).

Randomness comes from a NumPy ``Generator`` the caller passes in, seeded per batch,
so augmentations are reproducible and need no state in a checkpoint.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from babelshard.train.config import ImageConfig
from babelshard.train.data.randaugment import rand_augment

Image.MAX_IMAGE_PIXELS = 64_000_000  # refuse decompression bombs (Pillow raises above 2x this)


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


def resize_shorter(image: Image.Image, side: int) -> Image.Image:
    width, height = image.size
    if min(width, height) == side:
        return image
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    return image.resize(size, Image.BICUBIC, reducing_gap=3.0)


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
    image = decode_rgb(data, config.background, at_least=(config.resize or config.size) if config.draft else None)
    image = resize_shorter(image, config.resize or config.size)
    width, height = image.size
    if config.random_crop and rng is not None:
        box = random_box(width, height, config.scale, rng)
        image = image.resize((config.size, config.size), Image.BICUBIC, box=box)
    else:
        image = image.crop(center_box(width, height, config.size))
    if config.randaugment is not None and rng is not None:
        image = rand_augment(image, config.randaugment.num_ops, config.randaugment.magnitude, rng)
    return to_array(image, config)
