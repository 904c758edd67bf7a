from __future__ import annotations

import io

import pytest
from PIL import Image

from babelshard.records import Caption, CaptionSample, ParallelPair, TextSample, stable_key


def png_image(index: int, size: int = 48) -> bytes:
    """A small real PNG: a colour gradient that differs per index."""
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


@pytest.fixture
def records():
    return caption_records(30)


@pytest.fixture
def text_records():
    return [TextSample(stable_key("fortunes", str(i)), f"Satz {i}.", "de", "fortunes", 0.9) for i in range(5)]


@pytest.fixture
def pair_records():
    return [ParallelPair(stable_key("po", str(i)), "en", "fr", f"File {i}", f"Fichier {i}", "django") for i in range(5)]
