"""The dataset card and sizes.json beside every index: Hugging Face datasets reads the shards
through the card although samples carry different members; OpenCLIP's sizes format."""
from __future__ import annotations

import dataclasses
import io
import json
import os

import numpy as np
import pytest

from babelshard.records import Caption, CodeSwitchVariant
from babelshard.shards.card import (
    CARD_NAME, SIZES_NAME, FirstMembers, first_members, read_card_metadata, shard_pattern, write_card_files,
)
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_samples
from babelshard.shards.tario import sample_members
from babelshard.shards.writer import ShardWriter, write_records
from babelshard.testing import caption_records, load_hf_dataset

pytest.importorskip("datasets", reason="Hugging Face datasets (pip install datasets) reads the cards")


def uneven_records():
    """Samples of one stream with different member sets: French on every third, code-switched
    variants on every other one, a feature array on all."""
    records = []
    for number, record in enumerate(caption_records(20)):
        captions = dict(record.captions)
        if number % 3 == 0:
            captions["fr"] = Caption(f"emoji numéro {number}")
        variant = CodeSwitchVariant(0, f"emoji Nummer {number}", ("emoji", "Nummer"), ("en", "de"))
        variants = (variant,) if number % 2 else ()
        features = {"clip": np.full(4, number, dtype=np.float32)}
        records.append(dataclasses.replace(record, captions=captions, codeswitched=variants, features=features))
    return records


def card(folder) -> dict:
    with open(os.path.join(folder, CARD_NAME), encoding="utf-8") as handle:
        return dict(read_card_metadata(handle.read()))


def test_card_declares_every_member_and_the_index_counts(tmp_path):
    folder = str(tmp_path)
    writer = ShardWriter(folder, stream="caption", max_samples=6)
    for record in uneven_records():
        writer.write_record(record)
    index = writer.close(extra={"job": "uneven", "license": "cc-by-4.0"})
    meta = card(folder)
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["de", "en", "fr"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": [s.name for s in index.shards]}]
    features = {f["name"]: f for f in meta["dataset_info"]["features"]}
    assert list(features) == ["__key__", "clip.npy", "cs.json", "de.txt", "fr.txt", "json", "png", "txt", "__url__"]
    assert features["png"]["dtype"] == "image" and features["cs.json"]["dtype"] == "json"
    assert features["clip.npy"] == {"name": "clip.npy", "list": "float32"}
    with open(os.path.join(folder, SIZES_NAME)) as handle:
        assert json.load(handle) == {s.name: s.samples for s in index.shards}
    assert sum(json.load(open(os.path.join(folder, SIZES_NAME))).values()) == index.samples == 20
    assert shard_pattern(index) == "shard-{000000..000003}.tar"


def test_the_card_from_what_the_writer_kept_equals_the_card_from_reading_the_first_shard(tmp_path):
    folder = str(tmp_path)
    records = uneven_records()
    write_records(folder, "caption", records, max_samples=12)
    kept = (tmp_path / CARD_NAME).read_bytes()
    write_card_files(folder, read_index(folder))  # reads the first shard back
    assert (tmp_path / CARD_NAME).read_bytes() == kept
    for limit in (1, 2, 5, 12):
        sampler = FirstMembers(limit)
        for record in records[:12]:  # the first shard, in the order written
            sampler.add(sample_members(record.to_sample()))
        assert sampler.found == first_members(folder, read_index(folder), limit)


@pytest.mark.parametrize("streaming", [False, True], ids=["arrow", "streaming"])
def test_hugging_face_reads_samples_with_different_members(tmp_path, streaming):
    folder = str(tmp_path / "caption")
    write_records(folder, "caption", uneven_records(), max_samples=6)
    ours = {s["__key__"]: s for s in iter_samples(folder)}
    assert len({frozenset(s) for s in ours.values()}) > 1  # the members differ between samples
    rows = list(load_hf_dataset(folder, str(tmp_path / "hf"), streaming=streaming))
    assert sorted(row["__key__"] for row in rows) == sorted(ours)
    for row in rows:
        sample = ours[row["__key__"]]
        assert row["txt"] == sample["txt"].decode() and row["de.txt"] == sample["de.txt"].decode()
        assert row["fr.txt"] == (sample["fr.txt"].decode() if "fr.txt" in sample else None)
        assert row["cs.json"] == (json.loads(sample["cs.json"]) if "cs.json" in sample else None)
        assert row["json"] == json.loads(sample["json"])
        assert row["png"].size == (48, 48)
        assert np.array_equal(np.asarray(row["clip.npy"], dtype=np.float32), np.load(io.BytesIO(sample["clip.npy"])))


def test_text_and_parallel_streams_get_cards_too(tmp_path, text_records, pair_records):
    text, pairs = str(tmp_path / "text"), str(tmp_path / "parallel")
    write_records(text, "text", text_records, max_samples=2)
    write_records(pairs, "parallel", pair_records, max_samples=2)
    assert [f["name"] for f in card(text)["dataset_info"]["features"]] == ["__key__", "json", "txt", "__url__"]
    assert card(text)["language"] == ["de"] and card(pairs)["language"] == ["en", "fr"]
    text_rows = sorted(load_hf_dataset(text, str(tmp_path / "hf")), key=lambda row: row["__key__"])
    assert [row["txt"] for row in text_rows] == [r.text for r in sorted(text_records, key=lambda r: r.key)]
    pair_rows = list(load_hf_dataset(pairs, str(tmp_path / "hf2"), streaming=True))
    assert sorted((row["en.txt"], row["fr.txt"]) for row in pair_rows) == sorted((p.source_text, p.target_text) for p in pair_records)
    assert read_index(pairs).samples == len(pair_rows) == 5
