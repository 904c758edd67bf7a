"""The demo's shards read by tools nobody here wrote: Hugging Face datasets, OpenCLIP's
training loader, and the README's own reading examples."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_samples
from babelshard.testing import load_hf_dataset

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("streaming", [False, True], ids=["arrow", "streaming"])
def test_hugging_face_loads_the_demo_folder(small_demo, tmp_path, streaming):
    pytest.importorskip("datasets", reason="Hugging Face datasets (pip install datasets)")
    folder = os.path.join(small_demo, "caption")
    ours = {s["__key__"]: s for s in iter_samples(folder)}
    assert len({frozenset(s) for s in ours.values()}) > 1  # samples differ in their members
    rows = list(load_hf_dataset(folder, str(tmp_path), streaming=streaming))
    assert len(rows) == read_index(folder).samples == 40
    assert {row["__key__"] for row in rows} == set(ours)
    languages = read_index(folder).languages
    for row in rows:
        sample = ours[row["__key__"]]
        for language in languages:
            member = "txt" if language == "en" else f"{language}.txt"
            assert row[member] == (sample[member].decode() if member in sample else None)
        assert row["cs.json"] == (json.loads(sample["cs.json"]) if "cs.json" in sample else None)
        assert row["json"]["url"] == json.loads(sample["json"])["url"]
        assert isinstance(row["jpg"], Image.Image) and row["jpg"].size == (64, 64)


def readme_python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_reading_examples_run_against_the_demo(small_demo, tmp_path, monkeypatch):
    pytest.importorskip("datasets", reason="Hugging Face datasets (pip install datasets)")
    blocks = readme_python_blocks()
    assert len(blocks) >= 2
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # the README's paths start at out/demo
    os.makedirs("out")
    os.symlink(small_demo, "out/demo")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    samples = read_index("out/demo/caption").samples
    pairs = list(namespace["pairs"])
    assert len(pairs) == samples == 40
    assert all(isinstance(image, Image.Image) and text and german for image, text, german in pairs)
    assert namespace["captions"].num_rows == samples


def open_clip_data():
    """OpenCLIP's training data module, or a skip naming what to install."""
    try:
        import open_clip
        from open_clip_train import data
    except (ImportError, RuntimeError, OSError) as error:  # a torchvision built for another torch fails at import
        pytest.skip(f"open_clip_torch with a torchvision matching the installed torch is not importable ({error})")
    return open_clip, data


def test_openclip_get_wds_dataset_yields_batches(small_demo):
    open_clip, data = open_clip_data()
    folder = os.path.join(small_demo, "caption")
    index = read_index(folder)
    with open(os.path.join(folder, "README.md"), encoding="utf-8") as handle:
        pattern = re.search(r'"path/to/this/folder/(shard-[^"]+)"', handle.read()).group(1)
    args = SimpleNamespace(
        train_data=f"{folder}/{pattern}", train_num_samples=None, train_data_upsampling_factors=None,
        dataset_resampled=False, seed=0, batch_size=8, workers=0, world_size=1,
    )
    preprocess = open_clip.image_transform(32, is_train=True)
    info = data.get_wds_dataset(args, preprocess, is_train=True, tokenizer=open_clip.tokenize)
    assert info.dataloader.num_samples >= index.samples  # from sizes.json, rounded up to whole batches
    batches = list(info.dataloader)
    assert len(batches) == info.dataloader.num_batches
    images, texts = batches[0]
    assert tuple(images.shape) == (8, 3, 32, 32) and texts.shape[0] == 8
