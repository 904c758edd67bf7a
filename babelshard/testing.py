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


def load_hf_dataset(folder: str, cache_dir: str, streaming: bool = False):
    """Hugging Face ``datasets.load_dataset`` on a shard folder, offline, with its cache in ``cache_dir``.

    The folder's dataset card picks the builder and declares the features."""
    import os

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset(folder, split="train", streaming=streaming, cache_dir=cache_dir)
