"""What ``babelshard inspect`` prints."""
from __future__ import annotations

import io
import json

from rich.console import Console
from rich.table import Table

from babelshard.shards.index import read_index
from babelshard.shards.publish import find_shard_folders
from babelshard.shards.reader import check_sizes, iter_samples, verify_folder


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
    row = {"key": sample["__key__"]}
    for member in sorted(sample):
        if member.startswith("__"):
            continue
        value = sample[member]
        if member in ("jpg", "png", "webp"):
            row[member] = image_size(value)
        elif member.endswith("txt"):
            row[member] = value.decode("utf-8")
        elif member == "cs.json":
            variants = json.loads(value)
            row[member] = f"{len(variants)} variant(s): " + (variants[0].get("text", "") if variants else "")
        elif member.endswith(".npy"):
            row[member] = f"{len(value):,} bytes"
    return row


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
        index = verify_folder(folder) if verify else check_sizes(folder)
        indexes.append((folder, index))
        languages = ", ".join(f"{lang} {count:,}" for lang, count in index.languages.items())
        overview.add_row(folder, index.stream, str(len(index.shards)), f"{index.samples:,}", human_bytes(index.bytes), languages)
    console.print(overview)
    if verify:
        console.print(f"[green]verified[/green]: every shard's size and sha256 match its index ({len(folders)} folder(s))")
    else:
        console.print(f"every shard's size matches its index ({len(folders)} folder(s)); --verify also checks sha256")
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
