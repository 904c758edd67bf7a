"""Raw samples from one shard folder for one logical worker, resumable by a cursor.

The shard order is a pure function of ``(seed, epoch, rank, worker, ...)``: with
``resample`` shards are drawn with replacement weighted by their sample counts
(OpenCLIP's resampled mode, each worker drawing its own sequence); without it each
round is a seeded permutation shared by every worker and split by global worker id.
``interleave`` shards are read at once, taking samples from them in turn, and each
shard's samples are shuffled by a seeded permutation. The cursor is therefore a few
integers, and resuming skips undecoded samples only.

A shard that cannot be read (missing, a byte count other than the index's, wrong
checksum, not a tar) is skipped and counted; so is a sample that cannot be decoded (by
the caller). Logs about either are rate limited. Skipping has a budget
(:class:`ShardErrorBudget`): more failed shard reads than ``max_rate`` of a stream's
reads, once it has tried ``min_reads``, stop the run with one line naming the stream.
"""
from __future__ import annotations

import logging
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from babelshard.configbase import ConfigError
from babelshard.errors import UserError
from babelshard.fs import join
from babelshard.shards.index import ShardIndex, ShardInfo
from babelshard.shards.reader import ShardIntegrityError, read_shard_into
from babelshard.shards.tarscan import ShardSample, ShardTable, scan_table

log = logging.getLogger("babelshard.train.data")


class ShardReadErrors(UserError):
    """More shard reads failed than the error budget allows."""


class NoReadableShards(ShardReadErrors):
    """Every shard drawn in a full round failed to load."""


@dataclass(frozen=True)
class ShardErrorBudget:
    """How many failed shard reads a stream may have: at most ``max_rate`` of its reads,
    checked once it has tried ``min_reads`` (so a failure among the first reads of a
    large folder does not stop a run). ``max_rate=1`` never stops."""

    max_rate: float = 0.01
    min_reads: int = 100

    def exceeded(self, attempts: int, errors: int) -> bool:
        return attempts >= self.min_reads and errors > self.max_rate * attempts

    def check(self, stream: str, attempts: int, errors: int, last: str = "") -> None:
        if self.exceeded(attempts, errors):
            detail = f"; last: {last}" if last else "; the warnings above name the shards"
            raise ShardReadErrors(
                f"stream {stream!r}: {errors} of {attempts} shard reads failed ({100 * errors / attempts:.1f}%), "
                f"more than data.max_shard_error_rate={self.max_rate:g} allows (checked from "
                f"data.min_shard_reads={self.min_reads}){detail}"
            )

    def check_totals(self, counters: Mapping[str, int]) -> None:
        """The run's totals (``stream/shards_read``, ``stream/shard_errors``), stream by stream."""
        for key, errors in counters.items():
            stream, _, name = key.rpartition("/")
            if name == "shard_errors" and errors:
                self.check(stream, counters.get(f"{stream}/shards_read", 0) + errors, errors)


class RateLimitedLog:
    """The first ``first`` messages, then at most one per ``every_s`` seconds with a count."""

    def __init__(self, logger: logging.Logger, first: int = 5, every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.logger, self.first, self.every_s, self.clock = logger, first, every_s, clock
        self.seen = 0
        self.suppressed = 0
        self.last = 0.0

    def warning(self, message: str) -> None:
        self.seen += 1
        now = self.clock()
        if self.seen <= self.first or now - self.last >= self.every_s:
            extra = f" ({self.suppressed} similar messages suppressed)" if self.suppressed else ""
            self.logger.warning("%s%s", message, extra)
            self.last, self.suppressed = now, 0
        else:
            self.suppressed += 1


@dataclass
class DataCounters:
    """Per-worker counts of one stream, returned with every batch and summed by the trainer."""

    stream: str = ""
    budget: ShardErrorBudget = field(default_factory=ShardErrorBudget)
    counts: Counter = field(default_factory=Counter)
    logger: RateLimitedLog = field(default_factory=lambda: RateLimitedLog(log))
    last_shard_error: str = ""

    def count(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def error(self, name: str, message: str) -> None:
        self.counts[name] += 1
        self.logger.warning(message)

    def shard_error(self, where: str, error: Exception) -> None:
        """A failed shard read: counted, logged (rate limited), and held to the budget."""
        self.last_shard_error = str(error) if where in str(error) else f"{where}: {error}"
        self.error("shard_errors", f"skipping unreadable shard {self.last_shard_error}")
        errors = self.counts["shard_errors"]
        self.budget.check(self.stream, self.counts["shards_read"] + errors, errors, last=self.last_shard_error)


class ShardSequence:
    """The j-th shard a logical worker reads from a folder, for any j, deterministically."""

    CHUNK = 256

    def __init__(self, index: ShardIndex, seed: tuple[int, ...], resample: bool, worker: int, workers: int):
        self.shards = index.shards
        self.seed, self.resample = seed, resample
        self.worker, self.workers = worker, workers
        counts = np.asarray([s.samples for s in self.shards], dtype=np.float64)
        self.weights = counts / counts.sum()
        self._chunks: dict[int, np.ndarray] = {}
        if not resample and workers > len(self.shards):
            raise ConfigError(
                f"{len(self.shards)} shards cannot be split over {workers} workers without resampling; "
                "set resample: true or write more shards"
            )

    def _chunk(self, number: int) -> np.ndarray:
        chunk = self._chunks.get(number)
        if chunk is None:
            if len(self._chunks) > 4:
                self._chunks.clear()
            if self.resample:
                rng = np.random.default_rng([*self.seed, self.worker, number])
                chunk = rng.choice(len(self.shards), size=self.CHUNK, p=self.weights)
            else:  # round `number`: one permutation for all workers, split by worker id
                rng = np.random.default_rng([*self.seed, number])
                chunk = rng.permutation(len(self.shards))[self.worker :: self.workers]
            self._chunks[number] = chunk
        return chunk

    def __getitem__(self, j: int) -> ShardInfo:
        if self.resample:
            return self.shards[int(self._chunk(j // self.CHUNK)[j % self.CHUNK])]
        per_round = len(range(self.worker, len(self.shards), self.workers))
        return self.shards[int(self._chunk(j // per_round)[j % per_round])]


class ShardReadAhead:
    """One shard's bytes (and, with ``verify``, their sha256 check) read on a background
    thread while the open shards are decoded; the bytes or the read's error, taken once."""

    def __init__(self, seq: int, read: Callable[[], bytearray]):
        self.seq = seq
        self._data: bytearray | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(read,), name="babelshard-read-ahead", daemon=True)
        self._thread.start()

    def _run(self, read: Callable[[], bytearray]) -> None:
        try:
            self._data = read()
        except BaseException as error:  # raised again, in order, by take()
            self._error = error

    def take(self) -> bytearray:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._data is not None
        return self._data


@dataclass
class _Slot:
    seq: int
    order: list[int]
    table: ShardTable
    offset: int = 0


class FolderStream:
    """Infinite raw samples (mappings of member bytes) from one folder; see the module doc.
    It holds the bytes of at most ``interleave + 1`` shards, each once (members are copied
    out when a sample is read): the open ones and the next, read ahead on a thread into
    the buffer of the last shard it finished."""

    def __init__(
        self,
        folder: str,
        sequence: ShardSequence,
        *,
        interleave: int,
        shuffle: bool,
        verify: bool,
        counters: DataCounters,
        cursor: dict[str, Any] | None = None,
    ):
        self.folder, self.sequence = folder, sequence
        self.shuffle, self.verify, self.counters = shuffle, verify, counters
        self.next_seq, self.turn = 0, 0
        self.slots: list[_Slot | None] = [None] * interleave
        self.ahead: ShardReadAhead | None = None
        self.spare: list[bytearray] = []  # buffers of spent shards, for the next reads
        if cursor is not None:
            self._restore(cursor)

    def cursor(self) -> dict[str, Any]:
        slots = [None if s is None else [s.seq, s.offset] for s in self.slots]
        return {"next_seq": self.next_seq, "turn": self.turn, "slots": slots}

    def _restore(self, cursor: dict[str, Any]) -> None:
        if len(cursor["slots"]) != len(self.slots):
            raise ConfigError(f"{self.folder}: the checkpoint's cursor has {len(cursor['slots'])} slots, interleave is "
                              f"{len(self.slots)} now; resume with the interleave it was saved with")
        self.next_seq, self.turn = cursor["next_seq"], cursor["turn"]
        for i, saved in enumerate(cursor["slots"]):
            if saved is not None:
                slot = self._load(saved[0])
                if slot is not None:
                    slot.offset = saved[1]
                self.slots[i] = slot
        self._read_ahead()

    def _read_ahead(self) -> None:
        """Start reading the shard the next refill loads (its number is known in advance)."""
        shard, buffer = self.sequence[self.next_seq], self._buffer()
        self.ahead = ShardReadAhead(self.next_seq, lambda: read_shard_into(self.folder, shard, buffer, self.verify))

    def _read(self, seq: int, shard: ShardInfo) -> bytearray:
        ahead, self.ahead = self.ahead, None
        if ahead is not None and ahead.seq == seq:
            return ahead.take()
        return read_shard_into(self.folder, shard, self._buffer(), self.verify)

    def _buffer(self) -> bytearray:
        """The buffer of a shard done with, or a new one."""
        return self.spare.pop() if self.spare else bytearray()

    def _load(self, seq: int) -> _Slot | None:
        shard = self.sequence[seq]
        where = join(self.folder, shard.name)
        try:
            table = scan_table(self._read(seq, shard), where=where)
        except (ShardIntegrityError, tarfile.TarError, OSError, EOFError) as error:
            self.counters.shard_error(where, error)
            return None
        self.counters.count("shards_read")
        if self.shuffle:
            rng = np.random.default_rng([*self.sequence.seed, self.sequence.worker, 1 << 20, seq])
            return _Slot(seq, rng.permutation(len(table)).tolist(), table)
        return _Slot(seq, list(range(len(table))), table)

    def _refill(self, i: int) -> None:
        spent, self.slots[i] = self.slots[i], None
        if spent is not None:
            self.spare.append(spent.table.release())  # type: ignore[arg-type]
        failures = 0
        while True:
            slot = self._load(self.next_seq)
            self.next_seq += 1
            self._read_ahead()
            if slot is not None and len(slot.table):
                self.slots[i] = slot
                return
            failures += 1
            if failures > 2 * len(self.sequence.shards) + 8:
                last = self.counters.last_shard_error or "the shards drawn hold no samples"
                raise NoReadableShards(f"{self.folder}: no readable shard in {failures} draws in a row "
                                       f"(stream {self.counters.stream!r}; last: {last})")

    def next_raw(self) -> ShardSample:
        i = self.turn
        self.turn = (self.turn + 1) % len(self.slots)
        slot = self.slots[i]
        if slot is None or slot.offset >= len(slot.order):
            self._refill(i)
            slot = self.slots[i]
        assert slot is not None
        sample = ShardSample(slot.table, slot.order[slot.offset])
        slot.offset += 1
        return sample
