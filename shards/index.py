"""The versioned shard index (``index.json``), written last, after every shard it lists.

A folder without ``index.json`` is an unfinished run.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

from babelshard import __version__
from babelshard.errors import UserError
from babelshard.fs import exists, join, read_text, write_bytes_atomic
from babelshard.shards.card import write_card_files

INDEX_NAME = "index.json"
INDEX_VERSION = 1
STREAMS = ("caption", "text", "parallel")
# The only shard names an index may list: plain file names, no folders, no "..".
SHARD_NAME = re.compile(r"shard-[0-9]{6,}\.tar")


class ShardIndexError(UserError):
    """An index.json that is missing, unreadable or of an unknown version."""


def check_shard_name(name: Any, where: str = INDEX_NAME) -> str:
    """``name`` if it is a plain shard file name (``shard-NNNNNN.tar``); an index that
    names anything else (``../outside.tar``, ``/etc/passwd``) is refused."""
    if not isinstance(name, str) or SHARD_NAME.fullmatch(name) is None:
        raise ShardIndexError(f"{where}: shard name {name!r} is not a plain shard file name (shard-NNNNNN.tar); refusing the index")
    return name


@dataclass(frozen=True)
class ShardInfo:
    name: str
    samples: int
    bytes: int
    sha256: str
    languages: Mapping[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = dict(sorted(self.languages.items()))
        return data


@dataclass(frozen=True)
class ShardIndex:
    stream: str
    shards: tuple[ShardInfo, ...]
    config_hash: str = ""
    creator: str = f"babelshard {__version__}"
    version: int = INDEX_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(shard.samples for shard in self.shards)

    @property
    def bytes(self) -> int:
        return sum(shard.bytes for shard in self.shards)

    @property
    def languages(self) -> dict[str, int]:
        total: Counter = Counter()
        for shard in self.shards:
            total.update(shard.languages)
        return dict(sorted(total.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "stream": self.stream,
            "creator": self.creator,
            "config_hash": self.config_hash,
            "shards": [shard.as_json() for shard in self.shards],
            "totals": {"shards": len(self.shards), "samples": self.samples, "bytes": self.bytes},
            "languages": self.languages,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


def build_index(stream: str, shards: Iterable[ShardInfo], config_hash: str = "", extra=None) -> ShardIndex:
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; allowed: {', '.join(STREAMS)}")
    ordered = tuple(sorted((s for s in shards if s.samples > 0), key=lambda s: s.name))
    return ShardIndex(stream=stream, shards=ordered, config_hash=config_hash, extra=extra or {})


def write_index(folder: str, index: ShardIndex, first_members: Mapping[str, bytes] | None = None) -> str:
    """The dataset card and sizes.json first, then index.json: the index is the last file written.
    ``first_members``: ``card.first_members`` as the writer saw it, so the first shard is not read back."""
    write_card_files(folder, index, first_members)
    path = join(folder, INDEX_NAME)
    payload = json.dumps(index.as_json(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, payload.encode("utf-8"))
    return path


def parse_index(data: Mapping[str, Any], where: str = INDEX_NAME) -> ShardIndex:
    version = data.get("version")
    if version != INDEX_VERSION:
        raise ShardIndexError(f"{where}: unsupported index version {version!r}; this babelshard reads version {INDEX_VERSION}")
    try:
        shards = tuple(
            ShardInfo(
                check_shard_name(s["name"], where), int(s["samples"]), int(s["bytes"]), s["sha256"], dict(s.get("languages", {}))
            )
            for s in data["shards"]
        )
        return ShardIndex(
            stream=data["stream"],
            shards=shards,
            config_hash=data.get("config_hash", ""),
            creator=data.get("creator", ""),
            version=version,
            extra=data.get("extra", {}),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ShardIndexError(f"{where}: malformed index ({error!r})") from None


def read_index(folder: str) -> ShardIndex:
    path = join(folder, INDEX_NAME)
    if not exists(folder):
        raise ShardIndexError(f"{folder}: no such shard folder")
    if not exists(path):
        raise ShardIndexError(f"{folder}: no {INDEX_NAME}; the run that writes this folder has not finished")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ShardIndexError(f"{path}: not valid JSON ({error})") from None
    return parse_index(data, where=path)
