"""Checking and resizing downloaded images. Plain Python, no Beam.

Before img2dataset's ``Resizer`` decodes anything, the header is read (PIL, lazily) to
refuse non-images and decompression bombs by their declared pixel count, and the
container is checked for its end marker so truncated files are named as such.
Failures raise :class:`ImageError` with an enumerated reason.
"""
from __future__ import annotations

import importlib
import importlib.util
import io
import os
import struct
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from babelshard.pipelines.captions.config import ResizeConfig
from babelshard.stats import DropError, reason_enum


ImageReason = reason_enum("ImageReason", __name__)


# img2dataset's Resizer messages -> our reasons.
_RESIZER_REASONS = {"image too small": ImageReason.IMAGE_TOO_SMALL, "aspect ratio too large": ImageReason.ASPECT_RATIO}
# The Resizer silences C-level output by swapping file descriptors 1 and 2, and the
# header check changes warning filters; neither is thread-safe. img2dataset resizes in
# one thread per process, and so do we: image work in a process takes this lock.
_IMAGE_LOCK = threading.Lock()
_TAIL = 4096
_IMPORT_LOCK = threading.RLock()
_LOADED: dict[str, Any] = {}


class ImageError(DropError):
    """An image that fails a check or cannot be decoded or resized."""


@dataclass(frozen=True)
class ResizedImage:
    data: bytes
    width: int
    height: int
    original_width: int
    original_height: int


def import_img2dataset(module: str) -> Any:
    """``img2dataset.<module>``, without albumentations' network update check and without
    running the package's ``__init__``, which imports img2dataset's whole command line
    (webdataset, torch, wandb): seconds per worker process that the resizer does not need.

    The package is stood in for while the submodule loads, then every module of that
    load leaves ``sys.modules`` again, so a later ``import img2dataset`` is the real one.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    with _IMPORT_LOCK:
        if module in _LOADED:
            return _LOADED[module]
        if "img2dataset" in sys.modules:
            return importlib.import_module(f"img2dataset.{module}")
        spec = importlib.util.find_spec("img2dataset")
        if spec is None:
            raise ModuleNotFoundError("babelshard downloads images with img2dataset: pip install img2dataset")
        sys.modules["img2dataset"] = importlib.util.module_from_spec(spec)
        try:
            _LOADED[module] = importlib.import_module(f"img2dataset.{module}")
        finally:
            for name in [name for name in sys.modules if name == "img2dataset" or name.startswith("img2dataset.")]:
                del sys.modules[name]
        return _LOADED[module]


def read_header(data: bytes) -> tuple[str, int, int]:
    """Format, width and height from the header only; nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                return (image.format or "").upper(), image.width, image.height
        except Image.DecompressionBombError as error:
            raise ImageError(ImageReason.DECOMPRESSION_BOMB, str(error)[:200]) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise ImageError(ImageReason.NOT_AN_IMAGE, f"{len(data)} bytes, {str(error)[:150]}") from None


def is_truncated(data: bytes, image_format: str) -> bool:
    """True when the container's end marker is missing (no decoding needed)."""
    if image_format == "JPEG":
        return b"\xff\xd9" not in data[-_TAIL:]
    if image_format == "PNG":
        return b"IEND" not in data[-_TAIL:]
    if image_format == "GIF":
        return not data.rstrip(b"\x00").endswith(b"\x3b")
    if image_format == "WEBP" and len(data) >= 8:
        return struct.unpack("<I", data[4:8])[0] + 8 > len(data)
    return False


def check_image(data: bytes, max_pixels: int) -> tuple[str, int, int]:
    """The header's format and size, or an ImageError for non-images, bombs and truncation."""
    image_format, width, height = read_header(data)
    if width * height > max_pixels:
        raise ImageError(ImageReason.DECOMPRESSION_BOMB, f"{width}x{height} = {width * height} pixels > {max_pixels}")
    if is_truncated(data, image_format):
        raise ImageError(ImageReason.TRUNCATED_IMAGE, f"{image_format} of {len(data)} bytes has no end marker")
    return image_format, width, height


def make_resizer(settings: ResizeConfig) -> Any:
    resizer = import_img2dataset("resizer")
    return resizer.Resizer(
        image_size=settings.image_size,
        resize_mode=settings.resize_mode,
        resize_only_if_bigger=settings.resize_only_if_bigger,
        upscale_interpolation=settings.upscale_interpolation,
        downscale_interpolation=settings.downscale_interpolation,
        encode_quality=settings.encode_quality,
        encode_format=settings.encode_format,
        skip_reencode=settings.skip_reencode,
        min_image_size=settings.min_image_size,
        max_aspect_ratio=settings.max_aspect_ratio if settings.max_aspect_ratio is not None else float("inf"),
    )


def resize_image(data: bytes, resizer: Any) -> ResizedImage:
    """img2dataset's Resizer on the bytes; its error messages become reasons."""
    image, width, height, original_width, original_height, error = resizer(io.BytesIO(data))
    if error is not None:
        raise ImageError(_RESIZER_REASONS.get(error, ImageReason.DECODE_ERROR), error)
    return ResizedImage(image, width, height, original_width, original_height)


def process_image(data: bytes, max_pixels: int, resizer: Any) -> ResizedImage:
    """Check, then resize; one image at a time per process."""
    with _IMAGE_LOCK:
        check_image(data, max_pixels)
        return resize_image(data, resizer)
