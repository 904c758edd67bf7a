"""A shard's encoded samples, held until they can be written in key order, in bounded memory.

Samples arrive in any order (downloads finish when they finish), but a shard's tar lists
them sorted by key. :class:`HeldSamples` keeps samples in memory while the bytes they take
in the tar stay within ``memory_bytes``; every later sample goes, already in tar form
(headers, data, padding), to a spill file, and only its key, offset and size stay in
memory. :meth:`HeldSamples.in_key_order` hands every sample back sorted by key (ties in
arrival order, as a stable sort of one list gives), the spilled ones read back one at a
time, so the tar has the bytes an all-in-memory sort writes.

The spill file is a hidden ``.partial`` file next to the shard's own partial tar (a later
run removes it with the other leftovers of a killed run), or in the local temp dir when
the folder is on an object store; :meth:`HeldSamples.close` deletes it.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Mapping

from babelshard.fs import filesystem, is_local
from babelshard.shards.tario import encoded_size, tar_pieces, write_all

DEFAULT_MEMORY_BYTES = 256 << 20


@dataclass(frozen=True)
class HeldSample:
    """One sample as the tar writer takes it: its members (held in memory) or its tar
    bytes' place in the spill file."""

    key: str
    arrival: int
    size: int  # bytes its members take in the tar
    languages: Mapping[str, int]
    members: list[tuple[str, bytes]] | None = None
    offset: int = -1  # in the spill file, when members is None


class HeldSamples:
    """The encoded samples of one shard; ``with`` deletes the spill file at the end."""

    def __init__(self, folder: str, name: str, memory_bytes: int = DEFAULT_MEMORY_BYTES):
        if memory_bytes < 0:
            raise ValueError("memory_bytes must not be negative")
        self.folder, self.name, self.memory_bytes = folder, name, memory_bytes
        self.samples: list[HeldSample] = []
        self.held_bytes = 0  # bytes of the samples in memory
        self.peak_held_bytes = 0
        self.spilled_bytes = 0
        self.spilled_samples = 0
        self.spill_path: str | None = None
        self.spill_descriptor: int | None = None

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def content_bytes(self) -> int:
        """Bytes all samples take in the tar (before its end blocks and padding)."""
        return self.held_bytes + self.spilled_bytes

    def add(self, key: str, members: list[tuple[str, bytes]], languages: Mapping[str, int]) -> None:
        """Hold one sample: in memory while the budget allows, else in the spill file."""
        size, arrival = encoded_size(members), len(self.samples)
        if self.held_bytes + size <= self.memory_bytes:
            self.samples.append(HeldSample(key, arrival, size, languages, members=members))
            self.held_bytes += size
            self.peak_held_bytes = max(self.peak_held_bytes, self.held_bytes)
            return
        write_all(self._spill_file(), tar_pieces(members)[0])
        self.samples.append(HeldSample(key, arrival, size, languages, offset=self.spilled_bytes))
        self.spilled_bytes += size
        self.spilled_samples += 1

    def _spill_file(self) -> int:
        if self.spill_descriptor is None:
            fs, path = filesystem(self.folder)
            suffix = f"{os.getpid()}-{uuid.uuid4().hex[:12]}.spill.partial"
            if is_local(fs):
                os.makedirs(path, exist_ok=True)
                self.spill_path = os.path.join(path, f".{self.name}.{suffix}")
            else:
                self.spill_path = os.path.join(tempfile.gettempdir(), f".babelshard-{self.name}.{suffix}")
            self.spill_descriptor = os.open(self.spill_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        return self.spill_descriptor

    def in_key_order(self) -> list[HeldSample]:
        return sorted(self.samples, key=lambda sample: (sample.key, sample.arrival))

    def spilled_data(self, sample: HeldSample) -> bytes:
        """A spilled sample's tar bytes, read back from the spill file."""
        data = os.pread(self.spill_descriptor, sample.size, sample.offset)
        if len(data) != sample.size:
            raise OSError(f"{self.spill_path}: {len(data)} bytes at {sample.offset}, expected {sample.size}")
        return data

    def close(self) -> None:
        """Forget the samples and delete the spill file."""
        self.samples, self.held_bytes = [], 0
        if self.spill_descriptor is not None:
            os.close(self.spill_descriptor)
            self.spill_descriptor = None
        if self.spill_path is not None and os.path.exists(self.spill_path):
            os.remove(self.spill_path)

    def __enter__(self) -> "HeldSamples":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
