"""What ``babelshard inspect`` prints."""
from __future__ import annotations

import io
import json

from rich.console import Console
from rich.table import Table

from babelshard.records import CODESWITCH_MEMBER, IMAGE_EXTENSIONS, CaptionView, feature_name, member_language
from babelshard.shards.index import ShardIndex, read_index
from babelshard.shards.publish import find_shard_folders
from babelshard.shards.reader import iter_samples, verify_folder
from babelshard.shards.report_data import folder_stats


def human_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def image_size(data: bytes) -> str:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return f"{image.width}x{image.height} {image.format}"
    except Exception as error:  # shown, not fatal: inspect is for looking
        return f"undecodable ({type(error).__name__})"


def describe_sample(sample: dict) -> dict[str, str]:
    """One row per member worth showing: images by size, texts, variants, feature sizes."""
    view = CaptionView(sample)
    row = {"key": view.key}
    for member in sorted(sample):
        value = sample[member]
        if member in IMAGE_EXTENSIONS:
            row[member] = image_size(value)
        elif member_language(member) is not None:
            row[member] = value.decode("utf-8")
        elif member == CODESWITCH_MEMBER:
            variants = view.variants
            row[member] = f"{len(variants)} variant(s): " + (variants[0].text if variants else "")
        elif feature_name(member) is not None:
            row[member] = f"{len(value):,} bytes"
    return row


def folder_json(folder: str, index: ShardIndex, samples: int) -> dict:
    """One folder for ``inspect --json``: the index totals, drops by stage/reason, decoded samples."""
    stats = folder_stats(folder)
    shown = [describe_sample(sample) for _, sample in zip(range(max(samples, 0)), iter_samples(folder, index=index))]
    return {
        "folder": folder, "stream": index.stream, "shards": len(index.shards), "samples": index.samples,
        "bytes": index.bytes, "languages": index.languages,
        "inputs": stats.inputs if stats else None, "drops": dict(sorted(stats.drops.items())) if stats else {},
        "shown": shown,
    }


def inspect_json(path: str, samples: int = 3, verify: bool = False) -> str:
    folders = find_shard_folders(path)
    if not folders:
        read_index(path)  # raises the clear "no index.json" error
    documents = [folder_json(folder, verify_folder(folder) if verify else read_index(folder), samples) for folder in folders]
    return json.dumps({"path": path, "verified": verify, "folders": documents}, indent=1, ensure_ascii=False)


def print_drops(folder: str, console: Console) -> None:
    """The folder's drops by stage/reason, most frequent first."""
    stats = folder_stats(folder)
    if stats is None or not stats.drops:
        return
    console.print(f"{folder}: {stats.inputs:,} inputs, {stats.outputs:,} samples, {stats.dropped:,} dropped", soft_wrap=True)
    table = Table()
    table.add_column("stage/reason")
    table.add_column("dropped", justify="right")
    for reason, count in sorted(stats.drops.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(reason, f"{count:,}")
    console.print(table)


def inspect_path(path: str, samples: int = 3, verify: bool = False, console: Console | None = None) -> None:
    console = console or Console()
    folders = find_shard_folders(path)
    if not folders:
        read_index(path)  # raises the clear "no index.json" error
    overview = Table(title=f"babelshard: {path}")
    for column in ("folder", "stream", "shards", "samples", "bytes", "languages"):
        overview.add_column(column, justify="right" if column in ("shards", "samples", "bytes") else "left")
    indexes = []
    for folder in folders:
        index = verify_folder(folder) if verify else read_index(folder)
        indexes.append((folder, index))
        languages = ", ".join(f"{lang} {count:,}" for lang, count in index.languages.items())
        overview.add_row(folder, index.stream, str(len(index.shards)), f"{index.samples:,}", human_bytes(index.bytes), languages)
    console.print(overview)
    for folder, _ in indexes:
        print_drops(folder, console)
    if verify:
        console.print(f"[green]verified[/green]: every shard's size and sha256 match its index ({len(folders)} folder(s))")
    for folder, index in indexes:
        if samples <= 0:
            break
        table = Table(title=f"{folder}: first {samples} sample(s)", show_lines=True)
        table.add_column("member")
        table.add_column("value", overflow="fold")
        for number, sample in enumerate(iter_samples(folder, index=index)):
            if number >= samples:
                break
            for member, value in describe_sample(sample).items():
                table.add_row(member, value)
        console.print(table)
