"""Resizing checked images: babelshard's resizer, or img2dataset's. Plain Python, no Beam.

:class:`Resizer` gives img2dataset's output (the same resize modes, sizes, interpolation,
white alpha matting, padding and OpenCV encoder) for less CPU per image
(docs/bench/images.md): settings are resolved once per worker instead of albumentations
transforms being built and validated for every image, alpha is matted in integers, a
fully opaque alpha channel is simply dropped, RGB and gray JPEGs are decoded by
libjpeg-turbo directly and most PNGs by libspng (the pixels OpenCV gives, for less time
per call), a JPEG that is downscaled a lot is decoded at 1/2, 1/4 or 1/8 scale by libjpeg
(``draft`` mode) before the area resize, and an area downscale whose cells each cover at
most two source pixels a side (factors such as 1.5 or 1.25) is a bilinear sample at each
cell's weighted centre (:func:`two_tap_area_maps`). Otherwise an 8-bit image comes out as
img2dataset's bytes (the same OpenCV calls). Two deliberate differences: 16-bit images
are scaled to 8 bits (img2dataset saturates every value above 255 to white), and
``skip_reencode`` trusts the decoded header's format.

:func:`make_resizer` picks the resizer an :class:`ResizeConfig` names; both are called
as ``resizer(data, header)`` and return a :class:`ResizedImage` or raise ``ImageError``.
"""
from __future__ import annotations

import functools
import io
import math
import struct
import zlib
from typing import Callable

import cv2
import numpy as np
import simplejpeg

try:
    import pyspng
except ImportError:  # no wheel for Linux on ARM: OpenCV decodes every PNG, to the same pixels
    pyspng = None

from babelshard.pipelines.captions.config import ResizeConfig
from babelshard.pipelines.captions.images import ImageError, ImageHeader, ImageReason, ResizedImage, import_img2dataset

ResizerFunction = Callable[[bytes, ImageHeader], ResizedImage]

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "bilinear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC, "bicubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4, "lanczos4": cv2.INTER_LANCZOS4,
}
_ENCODERS = {
    "jpg": (".jpg", cv2.IMWRITE_JPEG_QUALITY, "JPEG"),
    "png": (".png", cv2.IMWRITE_PNG_COMPRESSION, "PNG"),
    "webp": (".webp", cv2.IMWRITE_WEBP_QUALITY, "WEBP"),
}
_REDUCED_COLOR = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_REDUCED_GRAY = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
# A JPEG is decoded at 1/k scale only while the decoded picture stays at least REDUCTION_GAP[k]
# times the target, so the area resize that follows still does most of the averaging,
# and only while libjpeg's partial last pixel (sides that are not multiples of k) moves
# the far edge by at most SHIFT_TOLERANCE of an output pixel. With these, outputs are at
# least 47 dB PSNR from img2dataset's before encoding and 40 dB after JPEG quality 95 (the
# equivalence test's images and 70 random photos); 1/2 from a 4x or 5x downscale fell to
# 39.9 dB after encoding (docs/bench/images.md).
REDUCTION_GAP = {8: 4.0, 4: 4.0, 2: 3.0}
SHIFT_TOLERANCE = 0.05
_WHITE = (255, 255, 255)
# JPEG modes that libjpeg-turbo's own decoder gives in OpenCV's channel order; CMYK and
# YCCK JPEGs go to OpenCV, which converts them.
_LIBJPEG_COLORSPACES = {"RGB": "BGR", "L": "GRAY"}
# PNG (bit depth, colour type) that libspng decodes to OpenCV's pixels: 8-bit grey, RGB and
# RGBA, and palettes of any depth (expanded to RGB). The channel swap OpenCV does is after.
# Others (16 bits, grey + alpha, grey under 8 bits, any tRNS chunk) go to OpenCV.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_LIBSPNG_FORMATS = {(8, 0): ("L", None), (8, 2): ("RGB", cv2.COLOR_RGB2BGR), (8, 6): ("RGBA", cv2.COLOR_RGBA2BGRA)}
_LIBSPNG_FORMATS.update({(depth, 3): ("RGB", cv2.COLOR_RGB2BGR) for depth in (1, 2, 4, 8)})
# Chunks walked in Python before a PNG is left to OpenCV: a 100 MB PNG in libpng's 8 KiB
# IDAT chunks has about 12,000; a file of millions of empty chunks costs no more than that.
_MAX_PNG_CHUNKS = 16_384


class Resizer:
    """babelshard's resizer for one :class:`ResizeConfig`, built once per worker."""

    def __init__(self, settings: ResizeConfig):
        self.size = settings.image_size
        self.mode = settings.resize_mode
        self.only_if_bigger = settings.resize_only_if_bigger
        self.upscale = INTERPOLATIONS[settings.upscale_interpolation]
        self.downscale = INTERPOLATIONS[settings.downscale_interpolation]
        self.extension, quality_flag, self.container = _ENCODERS[settings.encode_format]
        self.encode_params = [int(quality_flag), settings.encode_quality]
        self.skip_reencode = settings.skip_reencode
        self.min_side = settings.min_image_size
        self.max_aspect_ratio = settings.max_aspect_ratio or math.inf
        cv2.setNumThreads(1)  # one image per call; OpenCV's thread pool only adds overhead

    def __call__(self, data: bytes, header: ImageHeader) -> ResizedImage:
        check_proportions(header.width, header.height, self.min_side, self.max_aspect_ratio)
        target = self.target_size(header.width, header.height)
        reduction = self.jpeg_reduction(header, target)
        pixels = decode(data, header, reduction)
        width, height = (header.width, header.height) if reduction > 1 else (pixels.shape[1], pixels.shape[0])
        has_alpha = pixels.ndim == 3 and pixels.shape[2] == 4
        pixels = to_uint8(pixels)
        if has_alpha:
            pixels = flatten_alpha(pixels)
        if target is not None:
            pixels = self.fit(pixels, target)
        elif self.skip_reencode and not has_alpha and header.format == self.container:
            return ResizedImage(data, pixels.shape[1], pixels.shape[0], width, height)
        return ResizedImage(self.encode(pixels), pixels.shape[1], pixels.shape[0], width, height)

    def target_size(self, width: int, height: int) -> tuple[int, int, int] | None:
        """(width, height, interpolation) of the resize step, or None when the mode skips it.

        Sizes are rounded as albumentations' ``SmallestMaxSize``/``LongestMaxSize`` round them.
        """
        if self.mode == "no":
            return None
        side = min(width, height) if self.mode in ("keep_ratio", "center_crop") else max(width, height)
        downscale = side > self.size
        if self.only_if_bigger and not downscale:
            return None
        scale = self.size / side
        interpolation = self.downscale if downscale else self.upscale
        return max(1, round(width * scale)), max(1, round(height * scale)), interpolation

    def jpeg_reduction(self, header: ImageHeader, target: tuple[int, int, int] | None) -> int:
        """The libjpeg scale denominator (1, 2, 4 or 8) to decode this image at."""
        if target is None or header.format != "JPEG" or target[2] != cv2.INTER_AREA:
            return 1
        scale = max(header.width / target[0], header.height / target[1])
        for reduction in (8, 4, 2):
            if scale >= REDUCTION_GAP[reduction] * reduction and _aligned(header, reduction, target):
                return reduction
        return 1

    def fit(self, pixels: np.ndarray, target: tuple[int, int, int]) -> np.ndarray:
        """Resize to ``target``, then center-crop or pad to a square as the mode asks."""
        width, height, interpolation = target
        if pixels.shape[:2] != (height, width):
            pixels = resize(pixels, width, height, interpolation)
        if self.mode == "center_crop":
            top, left = (height - self.size) // 2, (width - self.size) // 2
            pixels = pixels[top : top + self.size, left : left + self.size]
        elif self.mode == "border" and (height < self.size or width < self.size):
            top, left = max(0, (self.size - height) // 2), max(0, (self.size - width) // 2)
            bottom, right = max(0, self.size - height - top), max(0, self.size - width - left)
            pixels = cv2.copyMakeBorder(pixels, top, bottom, left, right, cv2.BORDER_CONSTANT, value=_WHITE)
        return pixels

    def encode(self, pixels: np.ndarray) -> bytes:
        ok, encoded = cv2.imencode(self.extension, pixels, self.encode_params)
        if not ok:
            raise ImageError(ImageReason.DECODE_ERROR, f"OpenCV could not encode a {pixels.shape} image as {self.extension}")
        return encoded.tobytes()


def _aligned(header: ImageHeader, reduction: int, target: tuple[int, int, int]) -> bool:
    """True when decoding at 1/``reduction`` keeps the resize's geometry: libjpeg's last,
    partial pixel stretches a side by (padding / side), which moves the far edge by that
    fraction of the target."""
    return all(
        (-side % reduction) * target_side <= SHIFT_TOLERANCE * side
        for side, target_side in ((header.width, target[0]), (header.height, target[1]))
    )


def resize(pixels: np.ndarray, width: int, height: int, interpolation: int) -> np.ndarray:
    """``cv2.resize``, except an area downscale that :func:`two_tap_area_maps` covers."""
    maps = two_tap_area_maps(pixels.shape[1], pixels.shape[0], width, height) if interpolation == cv2.INTER_AREA else None
    if maps is None:
        return cv2.resize(pixels, (width, height), interpolation=interpolation)
    return cv2.remap(pixels, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@functools.lru_cache(maxsize=8)
def two_tap_area_maps(width: int, height: int, new_width: int, new_height: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``cv2.remap`` maps that give the area resize to (new_width, new_height), or None.

    An output pixel of an area downscale by s averages the source over a cell s pixels
    wide. Where every cell covers at most two source pixels a side (s = 1 + 1/n: 1.5,
    1.25, ...; or exactly 2), the cell's weights (w, 1 - w) on pixels (a, a + 1) are what
    bilinear sampling at a + 1 - w gives, and the 2-D weights are the product of the two
    axes' as in the area resize. ``cv2.remap`` samples on a 1/32-pixel grid, so a weight
    moves by at most 1/64: outputs are within a level of OpenCV's general area code on
    smooth pictures, a few levels at hard edges (about 60 dB on a 384 px render), for
    about a third of its time. Integer factors in both directions
    keep OpenCV's own fast path, which is exact."""
    if width % new_width == 0 and height % new_height == 0:
        return None
    axes = [_two_tap_positions(size, new_size) for size, new_size in ((width, new_width), (height, new_height))]
    if axes[0] is None or axes[1] is None:
        return None
    map_x, map_y = np.meshgrid(axes[0], axes[1])
    return cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)


def _two_tap_positions(size: int, new_size: int) -> np.ndarray | None:
    """Per output pixel, where to sample bilinearly for the area average of its cell
    [i * size / new_size, (i + 1) * size / new_size); None if a cell covers three pixels."""
    if new_size > size:
        return None
    ends = np.arange(1, new_size + 1, dtype=np.int64) * size  # cell ends, in units of 1/new_size
    first = (ends - size) // new_size  # the first source pixel each cell covers
    last = -(-ends // new_size) - 1  # the last one
    if np.any(last - first > 1):
        return None
    # The weight of pixel first + 1 is (end - (first + 1)) / s, which is the bilinear offset.
    return (first + (ends - (first + 1) * new_size) / size).astype(np.float32)


def check_proportions(width: int, height: int, min_side: int, max_aspect_ratio: float) -> None:
    """img2dataset's size filters, applied to the header before anything is decoded."""
    if min(width, height) == 0:
        raise ImageError(ImageReason.DECODE_ERROR, f"{width}x{height}: no pixels")
    if min(width, height) < min_side:
        raise ImageError(ImageReason.IMAGE_TOO_SMALL, f"{width}x{height}, smaller side under {min_side}")
    if max(width, height) / min(width, height) > max_aspect_ratio:
        raise ImageError(ImageReason.ASPECT_RATIO, f"{width}x{height}, more than {max_aspect_ratio}:1")


def decode(data: bytes, header: ImageHeader, reduction: int = 1) -> np.ndarray:
    """Pixels as OpenCV decodes them for img2dataset (BGR or BGRA, gray stays one channel;
    EXIF orientation is not applied); a JPEG at 1/``reduction`` scale when that is above 1."""
    if header.format == "JPEG":
        pixels = decode_jpeg(data, header, reduction)
    elif header.format == "PNG":
        pixels = decode_png(data)
    else:
        pixels = None
    return pixels if pixels is not None else decode_with_opencv(data, header, reduction)


def decode_with_opencv(data: bytes, header: ImageHeader, reduction: int = 1) -> np.ndarray:
    """``cv2.imdecode`` as img2dataset calls it, at 1/``reduction`` scale for a JPEG."""
    if reduction == 1:
        flags = cv2.IMREAD_UNCHANGED
    else:
        reduced = _REDUCED_GRAY if header.mode == "L" else _REDUCED_COLOR
        flags = reduced[reduction] | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
        raise ImageError(ImageReason.DECODE_ERROR, f"OpenCV could not decode this {header.format or 'file'}")
    return pixels


def decode_jpeg(data: bytes, header: ImageHeader, reduction: int = 1) -> np.ndarray | None:
    """An RGB or gray JPEG decoded straight by libjpeg-turbo (the same decoder, IDCT and
    upsampling that OpenCV runs, so the same pixels, without OpenCV's per-call set-up),
    or None for OpenCV to decode: other colour modes, and any file libjpeg warns about
    (a truncated or corrupt file is decoded as OpenCV decodes it)."""
    colorspace = _LIBJPEG_COLORSPACES.get(header.mode)
    if colorspace is None:
        return None
    height, width = -(-header.height // reduction), -(-header.width // reduction)
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace, min_height=height, min_width=width, min_factor=reduction, strict=True
        )
    except ValueError:
        return None
    if pixels.shape[:2] != (height, width):
        return None
    return pixels[:, :, 0] if colorspace == "GRAY" else pixels


def decode_png(data: bytes) -> np.ndarray | None:
    """A PNG in a form :data:`_LIBSPNG_FORMATS` lists, decoded by libspng (lossless, so
    OpenCV's pixels, in about half libpng's time), or None for OpenCV to decode it, as it
    does any PNG libspng refuses (a bad checksum, a damaged stream)."""
    layout = _png_layout(data) if pyspng is not None else None
    if layout is None:
        return None
    output_format, conversion = layout
    try:
        pixels = pyspng.load(data, output_format)
    except RuntimeError:
        return None
    return pixels if conversion is None else cv2.cvtColor(pixels, conversion)


def _png_layout(data: bytes) -> tuple[str, int | None] | None:
    """libspng's output format and the conversion to OpenCV's channel order; None when
    OpenCV must decode the file, or refuse it as libpng does a critical chunk (IHDR,
    PLTE, IDAT, IEND) whose checksum is wrong, which libspng would decode."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    view, position, layout = memoryview(data), len(_PNG_SIGNATURE), None
    for _ in range(_MAX_PNG_CHUNKS):
        if position + 12 > len(data):
            return None
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            return None
        critical = not kind[0] & 0x20
        if critical and zlib.crc32(view[position + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
            return None
        if kind == b"IHDR" and length >= 10:
            layout = _LIBSPNG_FORMATS.get((data[position + 16], data[position + 17]))
        elif kind == b"tRNS":
            return None
        elif kind == b"IEND":
            return layout
        position = end + 4
    return None


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels; 16-bit values are scaled (round(v / 257)), not saturated."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return cv2.convertScaleAbs(pixels, alpha=1 / 257)
    raise ImageError(ImageReason.DECODE_ERROR, f"unsupported pixel type {pixels.dtype}")


def flatten_alpha(pixels: np.ndarray) -> np.ndarray:
    """BGRA matted on white, as img2dataset does it (round(c * a / 255) + 255 - a), in integers.

    ``cv2.multiply`` with scale 1/255 rounds to nearest like img2dataset's ``np.rint``; the
    sum never exceeds 255. The result equals img2dataset's for every (c, a) pair.
    """
    alpha = cv2.extractChannel(pixels, 3)
    color = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    if cv2.minMaxLoc(alpha)[0] == 255:
        return color
    alpha = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR)
    return cv2.add(cv2.multiply(color, alpha, scale=1 / 255), cv2.bitwise_not(alpha))


class Img2datasetResizer:
    """img2dataset's own ``Resizer`` (albumentations), for users who need its exact bytes."""

    _REASONS = {"image too small": ImageReason.IMAGE_TOO_SMALL, "aspect ratio too large": ImageReason.ASPECT_RATIO}

    def __init__(self, settings: ResizeConfig):
        module = import_img2dataset("resizer")
        self.resizer = module.Resizer(
            image_size=settings.image_size,
            resize_mode=settings.resize_mode,
            resize_only_if_bigger=settings.resize_only_if_bigger,
            upscale_interpolation=settings.upscale_interpolation,
            downscale_interpolation=settings.downscale_interpolation,
            encode_quality=settings.encode_quality,
            encode_format=settings.encode_format,
            skip_reencode=settings.skip_reencode,
            min_image_size=settings.min_image_size,
            max_aspect_ratio=settings.max_aspect_ratio if settings.max_aspect_ratio is not None else math.inf,
        )

    def __call__(self, data: bytes, header: ImageHeader) -> ResizedImage:
        image, width, height, original_width, original_height, error = self.resizer(io.BytesIO(data))
        if error is not None:
            raise ImageError(self._REASONS.get(error, ImageReason.DECODE_ERROR), error)
        return ResizedImage(image, width, height, original_width, original_height)


def make_resizer(settings: ResizeConfig) -> ResizerFunction:
    """The resizer ``settings.resizer`` names, ready for one worker."""
    if settings.resizer == "img2dataset":
        return Img2datasetResizer(settings)
    return Resizer(settings)
