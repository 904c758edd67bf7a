"""babelshard's resizer against img2dataset's own on a varied set of real encoded images
(OpenMoji renders and synthetic photos in every form a crawl meets): the same output
sizes and modes in every resize mode and format, pixels within 40 dB PSNR (the same
bytes unless a JPEG is decoded at reduced scale or an area downscale is sampled with two
taps), the same drops, exact alpha matting; and the option that picks the resizer."""
from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from babelshard.configbase import ConfigError, parse_config
from babelshard.pipelines.captions.config import ResizeConfig
from babelshard.pipelines.captions.images import ImageError, ImageHeader, ImageReason, check_image, process_image
from babelshard.pipelines.captions import resize as resize_module
from babelshard.pipelines.captions.resize import (
    Img2datasetResizer, Resizer, decode, decode_jpeg, decode_png, make_resizer, resize, two_tap_area_maps,
)
from babelshard.testing import encode_image, png_chunk, png_file, varied_images

# dB between the decoded outputs of the two resizers, in every case and format. Lossy formats are
# tested at quality 95: at 90 the encoders alone move pixels by 33-35 dB, and two encodes of
# nearly equal pictures differ by 39-42 dB.
MIN_PSNR = 40.0
MAX_PIXELS = 64_000_000
SETTINGS = {
    "border-256-jpg": dict(image_size=256, resize_mode="border"),
    "center_crop-64-jpg": dict(image_size=64, resize_mode="center_crop"),
    "keep_ratio-128-webp": dict(image_size=128, resize_mode="keep_ratio", encode_format="webp", encode_quality=95),
    "keep_ratio_largest-96-png": dict(
        image_size=96, resize_mode="keep_ratio_largest", encode_format="png", encode_quality=6
    ),
    "no-jpg-80": dict(resize_mode="no", encode_quality=80),
    "border-256-only-if-bigger": dict(image_size=256, resize_mode="border", resize_only_if_bigger=True),
    "center_crop-200-linear-cubic": dict(
        image_size=200, resize_mode="center_crop", downscale_interpolation="linear", upscale_interpolation="cubic"
    ),
}


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    from babelshard.pipelines.demo.openmoji import pick_emoji, render_png

    renders = {
        f"openmoji_{item.hexcode}_{size}.png": render_png(item.hexcode, size)
        for item, size in zip(pick_emoji(6, ["en"]), (40, 72, 160, 256, 384, 618))
    }
    return {**renders, **varied_images()}


def eight_bit_copy(data: bytes) -> bytes:
    """A 16-bit PNG's pixels rounded to 8 bits, as an 8-bit PNG (what babelshard resizes)."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.imencode(".png", np.round(pixels / 257).astype(np.uint8))[1].tobytes()


def psnr(first: Image.Image, second: Image.Image) -> float:
    difference = np.asarray(first, dtype=np.float32) - np.asarray(second, dtype=np.float32)
    mse = float(np.mean(np.square(difference), dtype=np.float64))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def reduction(resizer: Resizer, data: bytes) -> int:
    header = check_image(data, MAX_PIXELS)
    return resizer.jpeg_reduction(header, resizer.target_size(header.width, header.height))


def same_calls(resizer: Resizer, data: bytes) -> bool:
    """True when babelshard makes img2dataset's OpenCV calls on this image: decoded at full
    size, and resized (if at all) by OpenCV's own code, not two-tap area sampling."""
    header = check_image(data, MAX_PIXELS)
    target = resizer.target_size(header.width, header.height)
    if target is None or target[:2] == (header.width, header.height) or target[2] != cv2.INTER_AREA:
        return reduction(resizer, data) == 1
    return reduction(resizer, data) == 1 and two_tap_area_maps(header.width, header.height, *target[:2]) is None


def both(settings: ResizeConfig, data: bytes, reference_data: bytes):
    ours = process_image(data, MAX_PIXELS, Resizer(settings))
    theirs = process_image(reference_data, MAX_PIXELS, Img2datasetResizer(settings))
    return ours, theirs


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_same_sizes_and_modes_and_pixels_within_tolerance(images, setting):
    """Decoded at full size and resized by OpenCV's own code, the output is img2dataset's,
    byte for byte. img2dataset saturates 16-bit values above 255 to white; babelshard
    scales them, so a 16-bit image is compared with img2dataset's output for its 8-bit
    rounding."""
    settings = ResizeConfig(**SETTINGS[setting])
    ours_resizer, theirs_resizer = Resizer(settings), Img2datasetResizer(settings)
    failures = []
    for name, data in images.items():
        reference = eight_bit_copy(data) if name.startswith("16bit") else data
        ours = process_image(data, MAX_PIXELS, ours_resizer)
        theirs = process_image(reference, MAX_PIXELS, theirs_resizer)
        ours_image, theirs_image = Image.open(io.BytesIO(ours.data)), Image.open(io.BytesIO(theirs.data))
        sizes = [(r.width, r.height, r.original_width, r.original_height) for r in (ours, theirs)]
        if sizes[0] != sizes[1] or (ours_image.mode, ours_image.size) != (theirs_image.mode, theirs_image.size):
            failures.append(f"{name}: {sizes[0]} {ours_image.mode} vs {sizes[1]} {theirs_image.mode}")
        elif psnr(ours_image, theirs_image) < MIN_PSNR:
            failures.append(f"{name}: PSNR {psnr(ours_image, theirs_image):.1f} dB")
        elif ours.data != theirs.data and same_calls(ours_resizer, data):
            failures.append(f"{name}: img2dataset's decode and resize calls, yet not img2dataset's bytes")
        assert ours_image.format == theirs_image.format
    assert not failures, failures


def test_the_set_exercises_every_jpeg_reduction(images):
    """The equivalence above covers libjpeg's 1/2, 1/4 and 1/8 decoding as well as full size."""
    used = set()
    for setting in ("border-256-jpg", "center_crop-64-jpg"):
        resizer = Resizer(ResizeConfig(**SETTINGS[setting]))
        used.update(reduction(resizer, data) for data in images.values())
    assert used == {1, 2, 4, 8}


def test_the_set_exercises_two_tap_area_sampling(images):
    """The equivalence above covers area downscales done by two-tap sampling (the 384 px
    render to 256 px in border mode, a factor of 1.5)."""
    resizer = Resizer(ResizeConfig(**SETTINGS["border-256-jpg"]))
    sampled = [name for name, data in images.items() if reduction(resizer, data) == 1 and not same_calls(resizer, data)]
    assert any(name.endswith("_384.png") for name in sampled), sampled


@pytest.fixture(scope="module")
def jpeg_variants(images) -> dict[str, bytes]:
    """The set's JPEGs, and encodings libjpeg decodes by other paths: progressive, 4:4:4
    and 4:2:2 chroma, restart markers, and odd sides."""
    variants = {name: data for name, data in images.items() if name.endswith(".jpg")}
    photo = Image.open(io.BytesIO(images["photo_1603x1201.jpg"])).convert("RGB").crop((0, 0, 1203, 901))
    variants["progressive.jpg"] = encode_image(photo, "JPEG", quality=90, progressive=True)
    variants["chroma444.jpg"] = encode_image(photo, "JPEG", quality=90, subsampling=0)
    variants["chroma422.jpg"] = encode_image(photo, "JPEG", quality=90, subsampling=1)
    pixels = cv2.cvtColor(np.asarray(photo), cv2.COLOR_RGB2BGR)
    variants["restart_markers.jpg"] = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_RST_INTERVAL, 4])[1].tobytes()
    return variants


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_jpeg_decoding_gives_opencvs_pixels_at_every_scale(jpeg_variants, scale):
    """RGB and grey JPEGs go to libjpeg-turbo directly; the pixels are OpenCV's, exactly,
    at full size and at each reduced scale. CMYK goes to OpenCV itself."""
    reduced = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
    reduced_grey = {2: cv2.IMREAD_REDUCED_GRAYSCALE_2, 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
    direct = []
    for name, data in jpeg_variants.items():
        header = check_image(data, MAX_PIXELS)
        if scale == 1:
            flags = cv2.IMREAD_UNCHANGED
        else:
            flags = (reduced_grey if header.mode == "L" else reduced)[scale] | cv2.IMREAD_IGNORE_ORIENTATION
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        pixels = decode(data, header, scale)
        assert pixels.shape == expected.shape, name
        assert np.array_equal(pixels, expected), name
        if decode_jpeg(data, header, scale) is not None:
            direct.append(name)
    assert "cmyk_480x320.jpg" not in direct
    assert {"grey_2400x1600.jpg", "progressive.jpg", "restart_markers.jpg", "exif6_480x320.jpg"} <= set(direct)


def test_a_corrupt_jpeg_is_decoded_as_opencv_decodes_it(images):
    """libjpeg warns about a JPEG with zeroed entropy-coded data: OpenCV decodes what is
    there, and so does the resizer. A truncated JPEG, which OpenCV refuses, is a decode
    error, as in img2dataset."""
    data = images["photo_1024x768.jpg"]
    middle = len(data) // 2
    corrupt = data[:middle] + bytes(200) + data[middle + 200 :]
    header = check_image(data, MAX_PIXELS)
    assert decode_jpeg(corrupt, header) is None
    expected = cv2.imdecode(np.frombuffer(corrupt, np.uint8), cv2.IMREAD_UNCHANGED)
    assert expected is not None and np.array_equal(decode(corrupt, header), expected)
    truncated = data[: len(data) * 2 // 3]
    assert cv2.imdecode(np.frombuffer(truncated, np.uint8), cv2.IMREAD_UNCHANGED) is None
    with pytest.raises(ImageError) as caught:
        decode(truncated, header)
    assert caught.value.reason == ImageReason.DECODE_ERROR


def interlaced_png(pixels: np.ndarray) -> bytes:
    """An 8-bit RGB PNG in Adam7 interlacing (PIL and OpenCV write none)."""
    height, width = pixels.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    rows = []
    for x0, y0, dx, dy in passes:
        reduced = pixels[y0::dy, x0::dx]
        if reduced.size:
            rows.extend(b"\0" + row.tobytes() for row in reduced)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    return png_file(header, zlib.compress(b"".join(rows)))


def with_bad_checksum(data: bytes, kind: bytes) -> bytes:
    """``data`` with the CRC of its first ``kind`` chunk wrong."""
    start = data.index(kind) - 4
    end = start + 8 + struct.unpack_from(">I", data, start)[0]
    return data[:end] + bytes(b ^ 0xFF for b in data[end : end + 4]) + data[end + 4 :]


@pytest.fixture(scope="module")
def png_variants(images) -> dict[str, bytes]:
    """The set's PNGs, and PNGs in the other forms libspng or OpenCV read differently:
    gamma, palettes of 1-8 bits with and without transparency, colour-key transparency,
    16-bit colour, Adam7 interlacing, bad checksums, a damaged stream, and more chunks
    than the resizer walks before leaving a file to OpenCV."""
    from PIL import PngImagePlugin

    variants = {name: data for name, data in images.items() if name.endswith(".png")}
    photo = Image.open(io.BytesIO(images["photo_300x200.jpg"])).convert("RGB")
    gamma = PngImagePlugin.PngInfo()
    gamma.add(b"gAMA", struct.pack(">I", 100000))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "a caption")
    variants["gamma.png"] = encode_image(photo, "PNG", pnginfo=gamma)
    variants["palette_1bit.png"] = encode_image(photo.convert("1").convert("P"), "PNG", bits=1)
    variants["palette_4bit.png"] = encode_image(photo.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG", bits=4)
    variants["colour_key.png"] = encode_image(photo, "PNG", transparency=(0, 0, 0))
    variants["16bit_rgba.png"] = cv2.imencode(".png", (np.asarray(photo.convert("RGBA")).astype(np.uint16) * 257))[1].tobytes()
    variants["interlaced.png"] = interlaced_png(np.asarray(photo))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(variants["interlaced.png"]))), np.asarray(photo))
    plain = encode_image(photo, "PNG", pnginfo=text)
    variants["bad_text_checksum.png"] = with_bad_checksum(plain, b"tEXt")
    variants["bad_idat_checksum.png"] = with_bad_checksum(plain, b"IDAT")
    damaged = bytearray(plain)
    damaged[plain.index(b"IDAT") + 30] ^= 0xFF
    variants["damaged.png"] = bytes(damaged)
    header_end = len(b"\x89PNG\r\n\x1a\n") + 25
    variants["many_chunks.png"] = plain[:header_end] + png_chunk(b"prVt", b"") * 20_000 + plain[header_end:]
    return variants


def test_png_decoding_gives_opencvs_pixels(png_variants):
    """8-bit grey, RGB, RGBA and palette PNGs go to libspng; every PNG decodes to the
    pixels OpenCV gives (or is a decode error where OpenCV refuses it). PIL's header check
    already refuses a bad checksum before the image data; the decoders are compared on it
    too."""
    direct = []
    for name, data in png_variants.items():
        header = ImageHeader("PNG", 300, 200, "RGB") if name == "bad_text_checksum.png" else check_image(data, MAX_PIXELS)
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if expected is None:
            with pytest.raises(ImageError):
                decode(data, header)
            continue
        pixels = decode(data, header)
        assert pixels.shape == expected.shape and pixels.dtype == expected.dtype, name
        assert np.array_equal(pixels, expected), name
        if decode_png(data) is not None:
            direct.append(name)
    if resize_module.pyspng is None:
        return  # no pyspng on this platform: OpenCV decoded every PNG above
    assert {"rgba_480x320.png", "grey_480x320.png", "palette_480x320.png", "palette_1bit.png", "palette_4bit.png",
            "gamma.png", "interlaced.png"} <= set(direct), direct
    left_to_opencv = {"colour_key.png", "palette_transparent_480x320.png", "16bit_rgba.png", "grey_alpha_480x320.png",
                      "many_chunks.png"}
    assert not left_to_opencv & set(direct)


@pytest.mark.parametrize("size, new_size", [((384, 384), (256, 256)), ((320, 240), (256, 192)), ((512, 384), (256, 256)),
                                            ((7, 5), (6, 4)), ((50, 50), (50, 40))])
def test_two_tap_area_sampling_is_within_a_few_levels_of_opencvs_area_resize(size, new_size):
    """Weights on a 1/32 grid: at most 8 levels off at black-white steps, 1 on a smooth picture."""
    assert two_tap_area_maps(*size, *new_size) is not None
    rng = np.random.default_rng(sum(size))
    for channels in (1, 3, 4):
        noise = rng.integers(0, 256, (size[1], size[0], channels)[: 2 if channels == 1 else 3], dtype=np.uint8)
        steps = (noise > 127).astype(np.uint8) * 255
        for picture, tolerance in ((noise, 8), (steps, 8), (cv2.GaussianBlur(noise, (5, 5), 1.5), 1)):
            ours = resize(picture, *new_size, cv2.INTER_AREA).astype(np.int16)
            theirs = cv2.resize(picture, new_size, interpolation=cv2.INTER_AREA).astype(np.int16)
            assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= tolerance


@pytest.mark.parametrize("size, new_size", [((480, 320), (256, 171)), ((213, 170), (170, 136)), ((1024, 768), (256, 192)),
                                            ((384, 384), (192, 192)), ((100, 100), (120, 120))])
def test_other_factors_keep_opencvs_area_resize(size, new_size):
    """Cells over three source pixels, integer factors (OpenCV's exact fast path) and upscales."""
    assert two_tap_area_maps(*size, *new_size) is None


def test_alpha_matting_equals_img2dataset_for_every_colour_and_alpha():
    colour, alpha = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    rgba = np.dstack([colour, 255 - colour, colour // 2 + 64, alpha])
    data = encode_image(Image.fromarray(rgba, "RGBA"), "PNG")
    ours, theirs = both(ResizeConfig(resize_mode="no", encode_format="png", encode_quality=1), data, data)
    matted = np.asarray(Image.open(io.BytesIO(ours.data)))
    assert matted.shape == (256, 256, 3)
    assert np.array_equal(matted, np.asarray(Image.open(io.BytesIO(theirs.data))))


@pytest.mark.parametrize("resizer", [Resizer, Img2datasetResizer])
def test_filters_and_undecodable_images_give_the_same_reasons(images, resizer):
    small = resizer(ResizeConfig(min_image_size=20))
    with pytest.raises(ImageError) as caught:
        process_image(images["photo_31x17.jpg"], MAX_PIXELS, small)
    assert caught.value.reason == ImageReason.IMAGE_TOO_SMALL
    narrow = resizer(ResizeConfig(max_aspect_ratio=3.0))
    with pytest.raises(ImageError) as caught:
        process_image(images["photo_2400x600.jpg"], MAX_PIXELS, narrow)
    assert caught.value.reason == ImageReason.ASPECT_RATIO
    process_image(images["photo_600x1400.jpg"], MAX_PIXELS, narrow)  # 2.33:1 passes
    icon = encode_image(Image.open(io.BytesIO(images["photo_31x17.jpg"])), "ICO")  # PIL reads it, OpenCV cannot
    with pytest.raises(ImageError) as caught:
        process_image(icon, MAX_PIXELS, resizer(ResizeConfig()))
    assert caught.value.reason == ImageReason.DECODE_ERROR


def test_skip_reencode_keeps_matching_files_as_they_are(images):
    settings = ResizeConfig(resize_mode="no", skip_reencode=True)
    photo, transparent = images["photo_300x200.jpg"], images["rgba_480x320.png"]
    ours, theirs = both(settings, photo, photo)
    assert ours.data == theirs.data == photo and (ours.width, ours.height) == (300, 200)
    ours, theirs = both(settings, transparent, transparent)
    assert Image.open(io.BytesIO(ours.data)).format == Image.open(io.BytesIO(theirs.data)).format == "JPEG"


def test_config_picks_the_resizer_and_names_bad_keys():
    assert isinstance(make_resizer(ResizeConfig()), Resizer)
    assert isinstance(make_resizer(ResizeConfig(resizer="img2dataset")), Img2datasetResizer)
    with pytest.raises(ConfigError, match="resizer"):
        parse_config(ResizeConfig, {"resizer": "pillow"})
    with pytest.raises(ConfigError, match="downscale_interpolation"):
        parse_config(ResizeConfig, {"downscale_interpolation": "gaussian"})
