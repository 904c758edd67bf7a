"""Language-balanced sampling weights: ``q_i ∝ p_i^alpha`` over per-language counts.

``p_i = n_i / sum_j n_j`` is a language's share of the samples; smoothing with
``alpha < 1`` (0.3 for M3P and the unified mVLP, 0.2 for mCLIP's text-encoder data)
raises low-resource languages. The result is written as ``weights.json`` beside the
per-language shard folders (the text root or the parallel root):

.. code-block:: json

    {"format": "babelshard.weights", "version": 1, "stream": "text", "alpha": 0.3,
     "total_samples": 1500,
     "languages": {"de": {"folder": "de", "samples": 1000, "p": 0.6667, "q": 0.5307}, ...}}

``folder`` is relative to the file; ``p`` and ``q`` each sum to 1 (full float precision).
This module writes the file (the text job, ``babelshard text-weights``) and reads it
(the trainer: :func:`find_weights_file`, :func:`read_weights_file`, :func:`sampling_weights`).
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

from babelshard.fs import exists, filesystem, join, read_text, write_bytes_atomic
from babelshard.shards.index import INDEX_NAME, ShardIndex, ShardIndexError, read_index

WEIGHTS_NAME = "weights.json"
WEIGHTS_FORMAT = "babelshard.weights"
WEIGHTS_VERSION = 1


def smoothed_weights(counts: Mapping[str, int], alpha: float) -> dict[str, tuple[float, float]]:
    """``{language: (p, q)}`` with ``p = n / N`` and ``q = p^alpha / sum p^alpha``; empty languages left out."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    total = sum(n for n in counts.values() if n > 0)
    if total == 0:
        return {}
    shares = {lang: n / total for lang, n in sorted(counts.items()) if n > 0}
    smoothed = {lang: p**alpha for lang, p in shares.items()}
    norm = sum(smoothed.values())
    return {lang: (shares[lang], smoothed[lang] / norm) for lang in shares}


def weights_document(stream: str, counts: Mapping[str, int], folders: Mapping[str, str], alpha: float) -> dict[str, Any]:
    weights = smoothed_weights(counts, alpha)
    return {
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "stream": stream,
        "alpha": alpha,
        "total_samples": sum(counts[lang] for lang in weights),
        "languages": {
            lang: {"folder": folders[lang], "samples": counts[lang], "p": p, "q": q} for lang, (p, q) in weights.items()
        },
    }


def counts_from_indexes(named: Iterable[tuple[str, ShardIndex]]) -> tuple[str, dict[str, int], dict[str, str]]:
    """Stream, per-language counts and each language's folder from ``(folder name, index)`` pairs."""
    streams, counts, folders = set(), {}, {}
    for folder, index in sorted(named, key=lambda item: item[0]):
        streams.add(index.stream)
        for lang, n in index.languages.items():
            if lang in folders:
                raise ShardIndexError(f"language {lang!r} is in both {folders[lang]!r} and {folder!r}")
            counts[lang], folders[lang] = n, folder
    if len(streams) > 1:
        raise ShardIndexError(f"shard folders of different streams: {', '.join(sorted(streams))}")
    return (streams.pop() if streams else "text"), counts, folders


def find_indexes(root: str) -> list[tuple[str, ShardIndex]]:
    """``root`` itself if it is a shard folder, else every subfolder; an unfinished subfolder is an error."""
    if exists(join(root, INDEX_NAME)):
        return [(".", read_index(root))]
    fs, path = filesystem(root)
    if not fs.isdir(path):
        raise FileNotFoundError(f"{root}: no such folder")
    found = []
    for entry in sorted(fs.ls(path, detail=True), key=lambda e: e["name"]):
        if entry["type"] != "directory":
            continue
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        found.append((name, read_index(join(root, name))))
    if not found:
        raise ShardIndexError(f"{root}: no shard folders (nothing with an {INDEX_NAME})")
    return found


def write_weights(root: str, named: Iterable[tuple[str, ShardIndex]], alpha: float) -> dict[str, Any]:
    stream, counts, folders = counts_from_indexes(named)
    document = weights_document(stream, counts, folders, alpha)
    payload = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(join(root, WEIGHTS_NAME), payload.encode("utf-8"))
    return document


def read_weights_file(path: str) -> dict[str, Any]:
    """A weights document, its format and version checked."""
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ShardIndexError(f"{path}: not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != WEIGHTS_FORMAT or document.get("version") != WEIGHTS_VERSION:
        raise ShardIndexError(f"{path}: not a {WEIGHTS_FORMAT} version {WEIGHTS_VERSION} file")
    return document


def read_weights(root: str) -> dict[str, Any]:
    """The ``weights.json`` beside the shard folders of ``root``."""
    return read_weights_file(join(root, WEIGHTS_NAME))


def sampling_weights(document: Mapping[str, Any]) -> dict[str, float]:
    """``{language: q}``: the smoothed sampling weight of each language of a weights document."""
    return {lang: float(row["q"]) for lang, row in document["languages"].items()}


def find_weights_file(folders: Sequence[str]) -> str | None:
    """``weights.json`` in one of ``folders`` or in the parent of a per-language folder."""
    candidates = [join(f, WEIGHTS_NAME) for f in folders]
    candidates += [join(f.rstrip("/").rsplit("/", 1)[0], WEIGHTS_NAME) for f in folders if "/" in f.rstrip("/")]
    return next((path for path in candidates if exists(path)), None)
