"""Counting: every stage reports inputs, outputs and drops by an enumerated reason.

A drop is a value (:class:`Drop`) that travels with the sample's key, so the shard
writer can put it into the stats of the shard the sample would have gone to and the
invariant ``inputs = samples + drops`` holds per shard and per run.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable, Mapping


class Reason(StrEnum):
    """Base of every stage's drop reasons: a string enum whose members carry a one-line description.

    ``TOO_SHORT = "too_short", "fewer than min_chars characters"``; the member is the
    string ``"too_short"`` wherever a string goes (stats keys, failure tables).
    """

    description: str

    def __new__(cls, value: str, description: str = ""):
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class StageReason(Reason):
    """Reasons the stage adapters give themselves (:mod:`babelshard.inference`)."""

    MODEL_ERROR = "model_error", "the stage's model raised on the batch the record was in (RunInference's dead letter)"


@dataclass(frozen=True)
class Drop:
    """A record that did not become a sample, with the stage and reason why."""

    key: str
    stage: str
    reason: str
    detail: str = ""
    url: str = ""

    def as_row(self) -> dict[str, str]:
        return {"key": self.key, "stage": self.stage, "reason": self.reason, "detail": self.detail, "url": self.url}


@dataclass
class StageStats:
    """Mergeable counters: ``inputs``, ``outputs`` and ``drops`` per ``stage/reason``."""

    inputs: int = 0
    outputs: int = 0
    drops: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    def drop(self, stage: str, reason: str, count: int = 1) -> None:
        self.drops[f"{stage}/{reason}"] += count

    def merge(self, other: "StageStats") -> "StageStats":
        self.inputs += other.inputs
        self.outputs += other.outputs
        self.drops.update(other.drops)
        self.counters.update(other.counters)
        return self

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "outputs": self.outputs,
            "dropped": self.dropped,
            "drops": dict(sorted(self.drops.items())),
            "counters": dict(sorted(self.counters.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StageStats":
        return cls(
            inputs=int(data.get("inputs", 0)),
            outputs=int(data.get("outputs", 0)),
            drops=Counter(data.get("drops", {})),
            counters=Counter(data.get("counters", {})),
        )


def merge_stats(items: Iterable[StageStats]) -> StageStats:
    total = StageStats()
    for item in items:
        total.merge(item)
    return total


def stats_from_file(path: str) -> StageStats:
    with open(path, encoding="utf-8") as handle:
        return StageStats.from_json(json.load(handle))
