"""Hash-partitioned spill files (Arrow IPC streams) for joins larger than memory.

A table is split by an integer partition id per row; each partition is appended to
its own file and later read back whole, one at a time. Memory is then bounded by one
partition, not by the input.
"""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa


class Partitions:
    """``count`` partition files under ``folder``, all with one ``schema``."""

    def __init__(self, folder: str, name: str, schema: pa.Schema, count: int):
        self.folder, self.name, self.schema, self.count = folder, name, schema, count
        self._writers: dict[int, tuple] = {}
        self.rows = 0

    def _path(self, part: int) -> str:
        return os.path.join(self.folder, f"{self.name}-{part:05d}.arrow")

    def write(self, table: pa.Table, parts: np.ndarray) -> None:
        """Append the rows of ``table``; row ``i`` goes to partition ``parts[i]``."""
        if table.num_rows == 0:
            return
        parts = np.asarray(parts, dtype=np.int64)
        order = np.argsort(parts, kind="stable")
        bounds = np.searchsorted(parts[order], np.arange(self.count + 1))
        ordered = table.cast(self.schema).take(pa.array(order))
        for part in range(self.count):
            start, stop = int(bounds[part]), int(bounds[part + 1])
            if stop > start:
                self._writer(part).write_table(ordered.slice(start, stop - start))
        self.rows += table.num_rows

    def _writer(self, part: int):
        if part not in self._writers:
            handle = open(self._path(part), "wb")
            self._writers[part] = (handle, pa.ipc.new_stream(handle, self.schema))
        return self._writers[part][1]

    def close(self) -> None:
        for handle, writer in self._writers.values():
            writer.close()
            handle.close()
        self._writers.clear()

    def read(self, part: int) -> pa.Table:
        """One whole partition (empty table when nothing went there); call after :meth:`close`."""
        path = self._path(part)
        if not os.path.exists(path):
            return self.schema.empty_table()
        with open(path, "rb") as handle:
            table = pa.ipc.open_stream(handle).read_all()
        return table

    def remove(self, part: int) -> None:
        path = self._path(part)
        if os.path.exists(path):
            os.remove(path)


class DenseLookup:
    """An integer id -> small integer map as a growing NumPy array (ids are dense in PanLex)."""

    def __init__(self, dtype: type, missing: int):
        self.dtype, self.missing = dtype, missing
        self.values = np.full(1024, missing, dtype=dtype)

    def set(self, ids: np.ndarray, values: np.ndarray) -> None:
        if len(ids) == 0:
            return
        top = int(ids.max())
        if top >= len(self.values):
            grown = np.full(max(top + 1, 2 * len(self.values)), self.missing, dtype=self.dtype)
            grown[: len(self.values)] = self.values
            self.values = grown
        self.values[ids] = values

    def get(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self.values))
        out = np.full(len(ids), self.missing, dtype=self.dtype)
        out[inside] = self.values[ids[inside]]
        return out

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)
