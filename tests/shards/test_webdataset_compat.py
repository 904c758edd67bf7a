"""Our shards are plain WebDataset: webdataset's own reader and OpenCLIP's tuple convention read them."""
from __future__ import annotations

import webdataset as wds
from PIL import Image

from babelshard.shards.index import read_index
from babelshard.shards.writer import write_records


def shard_urls(folder: str) -> list[str]:
    return [f"{folder}/{shard.name}" for shard in read_index(folder).shards]


def test_webdataset_decode_reads_every_member(tmp_path, records):
    write_records(str(tmp_path), "caption", records, max_samples=12)
    dataset = wds.WebDataset(shard_urls(str(tmp_path)), shardshuffle=False).decode("pil")
    samples = list(dataset)
    assert len(samples) == len(records)
    by_key = {r.key: r for r in records}
    for sample in samples:
        record = by_key[sample["__key__"]]
        assert isinstance(sample["png"], Image.Image) and sample["png"].size == (48, 48)
        assert sample["txt"] == record.caption
        assert sample["de.txt"] == record.captions["de"].text
        assert sample["json"]["url"] == record.url


def test_openclip_tuple_convention(tmp_path, records):
    write_records(str(tmp_path), "caption", records, max_samples=12)
    pipeline = (
        wds.WebDataset(shard_urls(str(tmp_path)), shardshuffle=False)
        .decode("pilrgb")
        .rename(image="jpg;png;jpeg;webp", text="txt")
        .to_tuple("image", "text")
    )
    pairs = list(pipeline)
    assert len(pairs) == len(records)
    image, text = pairs[0]
    assert image.mode == "RGB" and text.startswith("emoji number")
