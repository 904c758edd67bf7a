"""RandAugment on real emoji images from the toy shards: the standard operations at
their ranges, N operations drawn uniformly, reproducible from the batch's generator,
applied to training streams only."""
from __future__ import annotations

import io
import itertools
import math
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageEnhance

from babelshard.shards.reader import iter_samples
from babelshard.train.data.randaugment import OPERATIONS, UNSIGNED, draw_operations, rand_augment
from babelshard.train.data.transforms import transform_image
from babelshard.train.stream_config import ImageConfig, RandAugmentConfig

STANDARD = {"identity", "autocontrast", "equalize", "rotate", "solarize", "color", "posterize", "contrast",
            "brightness", "sharpness", "shear_x", "shear_y", "translate_x", "translate_y"}


@pytest.fixture(scope="module")
def emoji(toy) -> tuple[bytes, Image.Image]:
    """The first toy image with many colours (some emoji are near-flat)."""
    for sample in iter_samples(toy["caption"]):
        data = sample.get("png") or sample.get("jpg") or sample.get("webp")
        image = Image.open(io.BytesIO(data)).convert("RGB")
        if len(image.getcolors(1 << 16) or []) > 30:
            return data, image
    raise AssertionError("no colourful image in the toy shards")


def differs(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is not None


def test_the_standard_operations_change_the_image_at_full_magnitude(emoji):
    image = ImageEnhance.Contrast(emoji[1]).enhance(0.6)  # the emoji spans 0-255: autocontrast would keep it
    assert set(OPERATIONS) == STANDARD
    for name, operation in OPERATIONS.items():
        for level in (1.0, -1.0):
            out = operation(image, level)
            assert out.size == image.size and out.mode == "RGB"
            if name != "identity":
                assert differs(out, image), (name, level)


def test_magnitude_zero_leaves_the_magnitude_operations_alone(emoji):
    _, image = emoji
    for name in STANDARD - {"autocontrast", "equalize", "solarize"}:
        assert not differs(OPERATIONS[name](image, 0.0), image), name
    assert not differs(OPERATIONS["solarize"](image, 0.0), image)  # threshold 256: nothing inverted


def test_ranges_at_full_magnitude(emoji):
    _, image = emoji
    pixels = np.asarray(OPERATIONS["posterize"](image, 1.0))
    assert set(np.unique(pixels % 16)) == {0}  # 4 bits kept
    assert np.array_equal(np.asarray(OPERATIONS["solarize"](image, 1.0)), 255 - np.asarray(image))
    rotated = image.rotate(-30.0, resample=Image.NEAREST, fillcolor=(128, 128, 128))
    assert not differs(OPERATIONS["rotate"](image, -1.0), rotated)
    brighter = np.asarray(OPERATIONS["brightness"](image, 0.5), dtype=float).mean()
    assert brighter > np.asarray(image, dtype=float).mean()


def test_operations_are_drawn_uniformly_with_random_signs():
    rng = np.random.default_rng(0)
    draws = [op for _ in range(2000) for op in draw_operations(2, 9, rng)]
    counts = Counter(name for name, _ in draws)
    expected = len(draws) / len(STANDARD)
    assert set(counts) == STANDARD
    assert all(abs(n - expected) < 5 * math.sqrt(expected) for n in counts.values()), counts
    levels = Counter(level for name, level in draws if name not in UNSIGNED)
    assert set(levels) == {0.3, -0.3} and abs(levels[0.3] - levels[-0.3]) < 5 * math.sqrt(len(draws) / 2)
    assert {level for name, level in draws if name in UNSIGNED} == {0.3}


def test_transform_applies_n_operations_reproducibly_on_training_streams(emoji):
    data, image = emoji
    plain = ImageConfig(size=32)
    augmented = ImageConfig(size=32, randaugment=RandAugmentConfig(num_ops=2, magnitude=9))
    first = transform_image(data, augmented, np.random.default_rng(7))
    assert np.array_equal(first, transform_image(data, augmented, np.random.default_rng(7)))
    assert np.array_equal(transform_image(data, augmented, None), transform_image(data, plain, None))  # evaluation
    outputs = [transform_image(data, augmented, np.random.default_rng(seed)) for seed in range(12)]
    assert sum(not np.array_equal(a, b) for a, b in itertools.combinations(outputs, 2)) > 50
    resized = Image.fromarray(((transform_image(data, plain, None).transpose(1, 2, 0) * 0.5 + 0.5) * 255).round().astype(np.uint8))
    by_hand = rand_augment(resized, 2, 9, np.random.default_rng(7))
    expected = (np.asarray(by_hand, np.float32) / 255 - 0.5) / 0.5
    assert np.allclose(first, expected.transpose(2, 0, 1), atol=1e-5)
