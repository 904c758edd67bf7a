"""Training progress (:class:`TrainState`), random generator state, and checkpoints.

A checkpoint holds the model, objectives, optimizer and scheduler, the progress, and
for every rank its random generator states and data position (each worker's cursor),
so a resumed run yields exactly the batches and losses an uninterrupted one would.
Everything in a checkpoint is plain data (numpy's generator state as lists), so it
loads weights-only (:mod:`babelshard.train.files`). Files are written under a
temporary name and renamed, so a kill never leaves a torn one under a checkpoint name;
a later save removes the temporary files a killed run left.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from babelshard.errors import UserError
from babelshard.train.data.batches import BatchMeta
from babelshard.train.files import PARTIAL_SUFFIX, UnreadableTrainerFile, load_plain, require_keys, save_plain

CHECKPOINT_FORMAT = "babelshard-checkpoint"
CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d{8})\.pt$")


@dataclass
class TrainState:
    """Where a run is: optimizer steps, epoch, micro-batches consumed in the epoch, each
    DataLoader worker's last reported cursor, and data counters."""

    step: int = 0
    epoch: int = 0
    consumed: int = 0
    worker_states: dict[int, Any] = field(default_factory=dict)
    counters_done: Counter = field(default_factory=Counter)
    counters_live: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)
    samples: Counter = field(default_factory=Counter)
    data_digest: str = ""

    def counters(self) -> dict[str, int]:
        """Totals (``stream/name``) over finished iterators and the live workers."""
        total = Counter(self.counters_done)
        for per_stream in self.counters_live.values():
            for stream, counts in per_stream.items():
                total.update({f"{stream}/{name}": n for name, n in counts.items()})
        return dict(sorted(total.items()))

    def observe(self, meta: BatchMeta, digest: str = "") -> None:
        """Record a batch the loop has taken from the loader; ``data_digest`` chains the
        batch digests, so two runs (or two ranks) can be compared by one string."""
        self.consumed += 1
        self.data_digest = hashlib.sha1(f"{self.data_digest}:{digest}".encode()).hexdigest()[:16]
        self.worker_states[meta.worker] = meta.cursor
        self.counters_live[meta.worker] = meta.counters

    def fold_counters(self) -> None:
        """Workers restart their counts with a new iterator: keep the totals."""
        self.counters_done = Counter(self.counters())
        self.counters_live = {}

    def next_epoch(self) -> None:
        self.fold_counters()
        self.epoch, self.consumed, self.worker_states = self.epoch + 1, 0, {}

    def rank_part(self) -> dict[str, Any]:
        return {"worker_states": self.worker_states, "counters": self.counters(), "rng": capture_rng(),
                "data_digest": self.data_digest}

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("worker_states"), data.pop("counters_live"), data.pop("counters_done")
        data["counters"] = self.counters()
        data["samples"] = dict(self.samples)
        return data


class ResumeMismatch(UserError):
    """A checkpoint that cannot continue this run (another data layout)."""


def capture_rng() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": numpy_rng_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def numpy_rng_state() -> dict[str, Any]:
    """numpy's global generator state as plain data (its key as a list of ints)."""
    state = np.random.get_state(legacy=False)
    state["state"] = {"key": state["state"]["key"].tolist(), "pos": int(state["state"]["pos"])}
    return state


def set_numpy_rng_state(state: Any) -> None:
    """A state from :func:`numpy_rng_state`, or numpy's legacy tuple (older checkpoints)."""
    if isinstance(state, dict):
        key = np.asarray(state["state"]["key"], dtype=np.uint32)
        state = ("MT19937", key, state["state"]["pos"], state["has_gauss"], state["gauss"])
    np.random.set_state(state)


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    set_numpy_rng_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_dir(output: str) -> str:
    return os.path.join(output, "checkpoints")


def checkpoint_path(output: str, step: int) -> str:
    return os.path.join(checkpoint_dir(output), f"ckpt-{step:08d}.pt")


def list_checkpoints(output: str) -> list[tuple[int, str]]:
    folder = checkpoint_dir(output)
    if not os.path.isdir(folder):
        return []
    found = [(int(m.group(1)), os.path.join(folder, n)) for n in os.listdir(folder) if (m := CHECKPOINT_PATTERN.match(n))]
    return sorted(found)


def find_resume(output: str, resume: str) -> str | None:
    """``auto``: the latest checkpoint in the output folder; ``never``; or a path."""
    if resume == "never":
        return None
    if resume == "auto":
        found = list_checkpoints(output)
        return found[-1][1] if found else None
    if not os.path.exists(resume):
        raise FileNotFoundError(f"resume checkpoint not found: {resume}")
    return resume


def save_checkpoint(path: str, payload: dict[str, Any], keep: int) -> None:
    """Write the checkpoint whole, then remove all but the ``keep`` latest and any
    temporary file a killed run left."""
    save_plain(path, {"format": CHECKPOINT_FORMAT, "version": 1, **payload})
    folder = os.path.dirname(path)
    for _, old in list_checkpoints(os.path.dirname(folder))[:-keep]:
        os.remove(old)
    for name in os.listdir(folder):
        if name.endswith(PARTIAL_SUFFIX):
            os.remove(os.path.join(folder, name))


CHECKPOINT_KEYS = ("config", "vocab", "model", "objectives", "optimizer", "scheduler", "state", "ranks", "layout")


def load_checkpoint(path: str) -> dict[str, Any]:
    """A checkpoint, loaded weights-only; anything else is one line naming the file."""
    data = load_plain(path, "checkpoint")
    if data.get("format") != CHECKPOINT_FORMAT:
        raise UnreadableTrainerFile(f"{path}: not a babelshard checkpoint")
    require_keys(data, CHECKPOINT_KEYS, path, "checkpoint")
    return data


def state_from_checkpoint(data: dict[str, Any], rank: int) -> TrainState:
    saved = data["state"]
    part = data["ranks"][rank]
    state = TrainState(step=saved["step"], epoch=saved["epoch"], consumed=saved["consumed"])
    state.worker_states = {int(k): v for k, v in part["worker_states"].items()}
    state.counters_done = Counter(part["counters"])
    state.samples = Counter(saved["samples"])
    state.data_digest = part["data_digest"]
    return state
