"""The one engine interface: ``translate(texts, src, tgt) -> [Translation]``, in order.

Engines are created on the worker (a CTranslate2 translator cannot be pickled) from
their config by :func:`create_engine`; :func:`engine_identity` gives the (engine,
model) names recorded in captions and cache keys, computed where the pipeline is built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from babelshard.translate.config import ApertiumEngineConfig, CTranslate2EngineConfig, EngineConfig


@dataclass(frozen=True)
class Translation:
    """One translated text with what the engine reports about it."""

    text: str
    score: float | None = None
    source_tokens: int = 0
    target_tokens: int = 0
    pieces: tuple[str, ...] = ()  # target tokens, for tests and token counts; not cached
    split: bool = False  # the input was longer than the model's limit and translated in parts
    truncated: bool = False  # the input was longer than the model's limit and cut


class TranslationEngine(Protocol):
    kind: str

    def model_id(self, source: str, target: str) -> str: ...

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]: ...


def create_engine(config: EngineConfig) -> TranslationEngine:
    """Load the engine a config describes (call on the worker)."""
    if isinstance(config, CTranslate2EngineConfig):
        from babelshard.translate.ctranslate2_engine import CTranslate2Engine

        return CTranslate2Engine(config)
    if isinstance(config, ApertiumEngineConfig):
        from babelshard.translate.apertium_engine import ApertiumEngine

        return ApertiumEngine(config)
    raise TypeError(f"unknown engine config {type(config).__name__}")


def engine_identity(config: EngineConfig, source: str, target: str) -> tuple[str, str]:
    """(engine kind, model id) without loading the model."""
    if isinstance(config, CTranslate2EngineConfig):
        from babelshard.translate.ctranslate2_engine import ctranslate2_model_id

        return config.kind, ctranslate2_model_id(config)
    if isinstance(config, ApertiumEngineConfig):
        from babelshard.translate.apertium_engine import apertium_model_id

        return config.kind, apertium_model_id(config, source, target)
    raise TypeError(f"unknown engine config {type(config).__name__}")
