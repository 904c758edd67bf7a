"""Helpers for babelshard's own tests and for users testing their configs offline."""
from __future__ import annotations

import io
import os
import shutil

from babelshard.records import Caption, CaptionSample, stable_key


def require_debian(path: str, package: str) -> None:
    """Skip the calling test unless a file that a Debian package installs is present."""
    import pytest

    if not os.path.exists(path):
        pytest.skip(f"needs the Debian package {package} (apt-get install {package})")


def require_command(command: str, package: str) -> None:
    """Skip the calling test unless a command that a Debian package installs is on PATH."""
    import pytest

    if shutil.which(command) is None:
        pytest.skip(f"needs `{command}` from the Debian package {package} (apt-get install {package})")


def png_image(index: int, size: int = 48) -> bytes:
    """A small real PNG: a colour gradient that differs per index."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    image = Image.merge("RGB", (image.getchannel(0), Image.new("L", (size, size), index * 37 % 256), image.getchannel(2)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def caption_records(count: int, image_bytes: int = 0) -> list[CaptionSample]:
    records = []
    for i in range(count):
        image = png_image(i) if image_bytes == 0 else bytes((i * 31 + j) % 251 for j in range(image_bytes))
        records.append(
            CaptionSample(
                key=stable_key("test", f"http://127.0.0.1/{i}.png"),
                source="test",
                url=f"http://127.0.0.1/{i}.png",
                captions={
                    "en": Caption(f"emoji number {i}"),
                    "de": Caption(f"Emoji Nummer {i}", provenance="mt", engine="ctranslate2", model="tiny", score=-0.5),
                },
                image=image,
                image_format="png",
                meta={"width": 48, "height": 48},
            )
        )
    return records


def synthetic_photo(width: int, height: int, seed: int) -> "Image.Image":
    """An RGB picture with a photo's statistics: a 1/f amplitude spectrum (as natural
    scenes have), colour that mostly follows luminance, a few hard-edged shapes and
    sensor grain. The field is drawn at a quarter of the size and upsampled, as a lens
    blurs, so even 4,000-pixel pictures take a fraction of a second."""
    import numpy as np
    from PIL import Image, ImageChops, ImageDraw

    rng = np.random.default_rng(seed)
    small_h, small_w = max(2, height // 4), max(2, width // 4)
    frequency = np.hypot(np.fft.fftfreq(small_h)[:, None], np.fft.rfftfreq(small_w)[None, :])
    frequency[0, 0] = 1.0
    shape = (3, small_h, small_w // 2 + 1)
    spectrum = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / frequency
    field = np.fft.irfft2(spectrum, s=(small_h, small_w))
    field = 0.7 * field[0] + 0.3 * field  # colour channels share most of the luminance
    low, high = field.min(axis=(1, 2), keepdims=True), field.max(axis=(1, 2), keepdims=True)
    channels = (field - low) / np.maximum(high - low, 1e-9) * 255
    image = Image.fromarray(channels.transpose(1, 2, 0).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(1, max(2, min(width, height) // 3)))
        colour = tuple(int(value) for value in rng.integers(0, 256, 3))
        draw.ellipse((x, y, x + size, y + size // 2 + 1), fill=colour)
    grain = Image.fromarray(rng.integers(0, 7, (height, width, 3), dtype=np.uint8))  # uniform, deviation 2
    return ImageChops.add(image, grain, offset=-3)


def encode_image(image: "Image.Image", image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def varied_images(seed: int = 0) -> dict[str, bytes]:
    """Encoded pictures in the forms a crawl meets: JPEG photos from 6 px to 3,200 px (sides
    that are and are not multiples of 8, panoramas, qualities 75-92), every EXIF
    orientation, CMYK, grey, grey + alpha, RGBA with graded and with opaque alpha, palette
    with and without transparency, GIF, WebP, 16-bit grey and 16-bit colour PNG. Names say
    what each is; 16-bit ones start with ``16bit``."""
    import cv2
    import numpy as np
    from PIL import Image

    def photo(width: int, height: int) -> Image.Image:
        return synthetic_photo(width, height, seed + width * 7 + height)

    images = {
        f"photo_{w}x{h}.jpg": encode_image(photo(w, h), "JPEG", quality=q)
        for w, h, q in [(6, 6, 90), (31, 17, 90), (300, 200, 90), (640, 480, 85), (1024, 768, 92),
                        (1603, 1201, 80), (3200, 2400, 90), (2400, 600, 90), (600, 1400, 75)]
    }
    base, large = photo(480, 320), photo(2400, 1600)
    for orientation in range(1, 9):
        exif = base.getexif()
        exif[0x0112] = orientation
        images[f"exif{orientation}_480x320.jpg"] = encode_image(base, "JPEG", quality=90, exif=exif.tobytes())
    exif = large.getexif()
    exif[0x0112] = 6
    images["exif6_2400x1600.jpg"] = encode_image(large, "JPEG", quality=90, exif=exif.tobytes())
    alpha = Image.linear_gradient("L").resize(base.size).rotate(30, expand=False, fillcolor=0)
    images.update({
        "cmyk_480x320.jpg": encode_image(base.convert("CMYK"), "JPEG", quality=90),
        "cmyk_2400x1600.jpg": encode_image(large.convert("CMYK"), "JPEG", quality=90),
        "grey_2400x1600.jpg": encode_image(large.convert("L"), "JPEG", quality=90),
        "grey_480x320.png": encode_image(base.convert("L"), "PNG"),
        "grey_alpha_480x320.png": encode_image(Image.merge("LA", (base.convert("L"), alpha)), "PNG"),
        "rgba_480x320.png": encode_image(Image.merge("RGBA", (*base.split(), alpha)), "PNG"),
        "rgba_opaque_1024x768.png": encode_image(photo(1024, 768).convert("RGBA"), "PNG"),
        "palette_480x320.png": encode_image(base.convert("P"), "PNG"),
        "palette_transparent_480x320.png": encode_image(base.convert("P"), "PNG", transparency=0),
        "palette_transparent_480x320.gif": encode_image(base.convert("P"), "GIF", transparency=0),
        "photo_640x480.webp": encode_image(photo(640, 480), "WEBP", quality=90),
        "rgba_480x320.webp": encode_image(Image.merge("RGBA", (*base.split(), alpha)), "WEBP", quality=90),
    })
    low_bits = np.random.default_rng(seed).integers(0, 256, (*base.size[::-1], 3), dtype=np.uint16)
    deep_bgr = np.asarray(base)[:, :, ::-1].astype(np.uint16) * 256 + low_bits
    images["16bit_grey_480x320.png"] = encode_image(Image.fromarray(np.ascontiguousarray(deep_bgr[:, :, 1])), "PNG")
    images["16bit_rgb_480x320.png"] = cv2.imencode(".png", deep_bgr)[1].tobytes()
    return images
