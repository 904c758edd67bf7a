"""Retrying the transient download failures of complete shards.

A shard that a run completed while an image host was down keeps its ``timeout``,
``rate_limited``, ``http_server_error``, ``connection_error`` and ``incomplete_read``
drops in its failures file. With retry on, such a shard counts as pending: its records
already in the tar keep their bytes, its other drops stay as they were, and only the
records dropped for a transient reason are downloaded again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from babelshard.fs import filesystem, join
from babelshard.pipelines.captions.fetch import FetchReason
from babelshard.records import CaptionSample
from babelshard.shards.bucket import completed_shard, encode_sample, read_failures
from babelshard.shards.held import HeldSamples
from babelshard.shards.tarscan import stream_tar_samples, tar_keys
from babelshard.shards.writer import shard_name
from babelshard.stats import Drop

DOWNLOAD_STAGE = "download"
RETRYABLE_REASONS = frozenset({
    FetchReason.TIMEOUT.value, FetchReason.RATE_LIMITED.value, FetchReason.HTTP_SERVER_ERROR.value,
    FetchReason.CONNECTION_ERROR.value, FetchReason.INCOMPLETE_READ.value,
})


def is_retryable(row: dict[str, str]) -> bool:
    return row["stage"] == DOWNLOAD_STAGE and row["reason"] in RETRYABLE_REASONS


def has_retryable_drops(folder: str, number: int) -> bool:
    return any(is_retryable(row) for row in read_failures(folder, number))


def shards_to_retry(folder: str, completed: Iterable[int]) -> set[int]:
    """The complete shards whose failures include a transient download failure."""
    return {number for number in completed if has_retryable_drops(folder, number)}


@dataclass
class PreviousShard:
    """What a complete shard already holds: the keys of its samples (whose bytes stay in its
    tar until :func:`hold_kept_samples` reads them), and its download drops that a retry keeps."""

    folder: str
    number: int
    sample_keys: set[str] = field(default_factory=set)
    kept_drops: dict[str, Drop] = field(default_factory=dict)


def previous_shard(folder: str, number: int, num_shards: int, config_hash: str) -> PreviousShard | None:
    done = completed_shard(folder, number, num_shards, config_hash)
    if done is None:
        return None
    previous = PreviousShard(folder, number)
    if done["samples"]:
        fs, path = filesystem(join(folder, shard_name(number)))
        with fs.open(path, "rb") as handle:
            previous.sample_keys = set(tar_keys(handle))
    for row in read_failures(folder, number):
        if row["stage"] == DOWNLOAD_STAGE and not is_retryable(row):
            previous.kept_drops[row["key"]] = Drop(row["key"], row["stage"], row["reason"], row["detail"], row["url"])
    return previous


def split_for_retry(items: Iterable[CaptionSample | Drop], previous: PreviousShard) -> tuple[list, set[str], list[Drop]]:
    """(items still to download or pass on, keys of the samples kept from the tar, drops kept from the failures)."""
    pending, kept_keys, kept_drops = [], set(), []
    for item in items:
        if isinstance(item, Drop):
            pending.append(item)
        elif item.key in previous.sample_keys:
            kept_keys.add(item.key)
        elif item.key in previous.kept_drops:
            kept_drops.append(previous.kept_drops[item.key])
        else:
            pending.append(item)
    return pending, kept_keys, kept_drops


def hold_kept_samples(previous: PreviousShard, keys: set[str], held: HeldSamples) -> None:
    """The previous tar's samples with these keys, read one at a time into ``held`` (which
    spills past its budget like downloaded samples), encoded as a fresh download is."""
    if not keys:
        return
    where = join(previous.folder, shard_name(previous.number))
    fs, path = filesystem(where)
    with fs.open(path, "rb") as handle:
        for sample in stream_tar_samples(handle, where):
            if sample["__key__"] in keys:
                encoded = encode_sample(CaptionSample.from_sample(sample))
                held.add(encoded.key, encoded.members, encoded.languages)
