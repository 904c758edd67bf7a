"""Counting: every stage reports inputs, outputs and drops by an enumerated reason.

A drop is a value (:class:`Drop`) that travels with the sample's key, so the shard
writer can put it into the stats of the shard the sample would have gone to and the
invariant ``inputs = samples + drops`` holds per shard and per run.
"""
from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml


class Reason(StrEnum):
    """Base of every stage's drop reasons: a string enum whose members carry a one-line
    description. ``LengthReason.TOO_SHORT`` is the string ``"too_short"`` wherever a
    string goes (stats keys, failure tables); ``.description`` says what it means.
    """

    description: str

    def __new__(cls, value: str, description: str = ""):
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


@functools.cache
def _reason_catalogue() -> dict[str, Any]:
    return yaml.safe_load(resources.files("babelshard").joinpath("reasons.yaml").read_text(encoding="utf-8"))


def reason_enum(name: str, module: str) -> type[Reason]:
    """The :class:`Reason` enum ``name`` as ``babelshard/reasons.yaml`` lists it (every
    stage's reasons are data in that one file), defined as ``module.name`` so its members
    pickle by reference."""
    entry = _reason_catalogue()[name]
    members = [(member, (value, description)) for member, (value, description) in entry["reasons"].items()]
    enum = Reason(name, members, module=module, qualname=name)
    enum.__doc__ = entry.get("about", f"Drop reasons: {name}.")
    return enum


StageReason = reason_enum("StageReason", __name__)


class DropError(Exception):
    """An error a stage turns into a :class:`Drop`: its reason and detail."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Drop:
    """A record that did not become a sample, with the stage and reason why."""

    key: str
    stage: str
    reason: str
    detail: str = ""
    url: str = ""

    def as_row(self) -> dict[str, str]:
        detail = deterministic_detail(self.detail)
        return {"key": self.key, "stage": self.stage, "reason": self.reason, "detail": detail, "url": self.url}


_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+")


def deterministic_detail(detail: str) -> str:
    """A drop's detail without the memory addresses that error texts may quote
    (``<_io.BytesIO object at 0x7f...>``), so identical runs write identical failures."""
    return _ADDRESS.sub("", detail)


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
