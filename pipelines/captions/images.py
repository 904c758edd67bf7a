"""Checking downloaded images before they are resized. Plain Python, no Beam.

Before a resizer (:mod:`babelshard.pipelines.captions.resize`) decodes anything, the
header is read (PIL, lazily) to refuse non-images and decompression bombs by their
declared pixel count, and the container is checked for its end marker so truncated
files are named as such. Failures raise :class:`ImageError` with an enumerated reason.
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
from typing import Any, Callable, NamedTuple

from babelshard.stats import DropError, reason_enum

ImageReason = reason_enum("ImageReason", __name__)


# img2dataset's Resizer silences C-level output by swapping file descriptors 1 and 2, and
# the header check changes warning filters; neither is thread-safe. img2dataset resizes
# in one thread per process, and so do we: image work in a process takes this lock.
_IMAGE_LOCK = threading.Lock()
_TAIL = 4096
_IMPORT_LOCK = threading.RLock()
_LOADED: dict[str, Any] = {}


class ImageError(DropError):
    """An image that fails a check or cannot be decoded or resized."""


class ImageHeader(NamedTuple):
    """What the header says: PIL's format name (``JPEG``, ``PNG``, ...), size and mode."""

    format: str
    width: int
    height: int
    mode: str


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


def read_header(data: bytes) -> ImageHeader:
    """Format, size and mode from the header only; nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                return ImageHeader((image.format or "").upper(), image.width, image.height, image.mode)
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


def check_image(data: bytes, max_pixels: int) -> ImageHeader:
    """The header, or an ImageError for non-images, bombs and truncation."""
    header = read_header(data)
    pixels = header.width * header.height
    if pixels > max_pixels:
        raise ImageError(ImageReason.DECOMPRESSION_BOMB, f"{header.width}x{header.height} = {pixels} pixels > {max_pixels}")
    if is_truncated(data, header.format):
        raise ImageError(ImageReason.TRUNCATED_IMAGE, f"{header.format} of {len(data)} bytes has no end marker")
    return header


def process_image(data: bytes, max_pixels: int, resizer: Callable[[bytes, ImageHeader], ResizedImage]) -> ResizedImage:
    """Check, then resize (``resize.make_resizer`` makes ``resizer``); one image at a time per process."""
    with _IMAGE_LOCK:
        return resizer(data, check_image(data, max_pixels))
