"""What ``babelshard report`` shows, gathered from shard folders: counts come whole from
the index and stats files, distributions from the samples of the first shards (up to a limit).
"""
from __future__ import annotations

import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Mapping

from babelshard.fs import exists, join, read_text
from babelshard.records import ENGLISH, CaptionView, CodeSwitchVariant, ParallelView, TextView
from babelshard.shards.index import ShardIndex, read_index
from babelshard.shards.publish import find_shard_folders
from babelshard.shards.reader import iter_samples
from babelshard.shards.weights import WEIGHTS_NAME, read_weights
from babelshard.stats import StageStats

CLIP_SCORE_KEYS = ("clip_score", "clip_similarity")


@dataclass
class FolderReport:
    """One stream folder: exact counts, and distributions over ``sampled`` samples."""

    folder: str
    index: ShardIndex
    stats: StageStats | None
    sampled: int = 0
    caption_chars: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    provenance: Counter = field(default_factory=Counter)  # (language, "human" | engine) -> captions
    quality: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # language -> QE scores
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    original_sizes: list[tuple[int, int]] = field(default_factory=list)
    switched_shares: list[float] = field(default_factory=list)  # per code-switched variant
    clip_scores: list[float] = field(default_factory=list)

    @property
    def drops(self) -> dict[str, int]:
        return dict(sorted(self.stats.drops.items())) if self.stats else {}


@dataclass
class DatasetReport:
    root: str
    folders: list[FolderReport]
    weights: dict[str, Mapping[str, Any]]  # stream root -> weights.json


def image_size(view: CaptionView) -> tuple[int, int] | None:
    """From the sample's json when the writer recorded it, else from the image header."""
    meta = view.meta
    if "width" in meta and "height" in meta:
        return int(meta["width"]), int(meta["height"])
    if view.image is None:
        return None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(view.image)) as image:
            return image.size
    except Exception:  # an undecodable image is shown as absent, not fatal: this is a report
        return None


def switched_share(variant: CodeSwitchVariant, source_language: str = ENGLISH) -> float | None:
    """Share of a code-switched variant's tokens that are not in the source language."""
    langs = variant.langs
    return sum(lang != source_language for lang in langs) / len(langs) if langs else None


def add_caption_sample(report: FolderReport, sample: Mapping[str, Any]) -> None:
    view = CaptionView(sample)
    meta = view.meta
    for language in view.languages:
        report.caption_chars[language].append(len(view.caption(language)))
    for language, info in meta.get("languages", {}).items():
        report.provenance[(language, info.get("engine") or info.get("provenance", "human"))] += 1
        if info.get("score") is not None:
            report.quality[language].append(float(info["score"]))
    size = image_size(view)
    if size:
        report.image_sizes.append(size)
    if "original_width" in meta and "original_height" in meta:
        report.original_sizes.append((int(meta["original_width"]), int(meta["original_height"])))
    for variant in view.variants:
        share = switched_share(variant)
        if share is not None:
            report.switched_shares.append(share)
    score = next((meta[key] for key in CLIP_SCORE_KEYS if key in meta), None)
    if score is not None:
        report.clip_scores.append(float(score))


def add_text_sample(report: FolderReport, sample: Mapping[str, Any]) -> None:
    if report.index.stream == "text":
        text = TextView(sample)
        report.caption_chars[text.language].append(len(text.text))
        return
    pair = ParallelView(sample)
    for language in pair.languages:
        report.caption_chars[language].append(len(pair.text(language)))
    if pair.meta.get("score") is not None:
        report.quality["-".join(pair.languages)].append(float(pair.meta["score"]))


def folder_stats(folder: str) -> StageStats | None:
    """The folder's merged ``stats.json`` (inputs, outputs, drops by stage/reason), if the writer left one."""
    path = join(folder, "stats.json")
    return StageStats.from_json(json.loads(read_text(path))) if exists(path) else None


def folder_report(folder: str, max_samples: int) -> FolderReport:
    index = read_index(folder)
    report = FolderReport(folder, index, folder_stats(folder))
    add = add_caption_sample if index.stream == "caption" else add_text_sample
    for sample in iter_samples(folder, index=index):
        if report.sampled >= max_samples:
            break
        add(report, sample)
        report.sampled += 1
    return report


def weights_files(root: str, folders: list[str]) -> dict[str, Mapping[str, Any]]:
    """Every weights.json beside the folders (the text and parallel roots)."""
    found = {}
    for parent in sorted({folder.rstrip("/").rsplit("/", 1)[0] for folder in folders} | {root}):
        if exists(join(parent, WEIGHTS_NAME)):
            found[parent] = read_weights(parent)
    return found


def gather(root: str, max_samples: int = 5000) -> DatasetReport:
    """Every shard folder under ``root`` (or ``root`` itself), up to ``max_samples`` samples each."""
    folders = find_shard_folders(root)
    if not folders:
        read_index(root)  # raises the clear "no index.json" error
    return DatasetReport(root, [folder_report(folder, max_samples) for folder in folders], weights_files(root, folders))
