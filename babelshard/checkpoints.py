"""Local model checkpoints as both the data jobs and the trainer read them: their kind,
their weights' checksum, and loading without any download.

A transformers checkpoint is a directory with ``config.json`` (its ``model_type`` says
the kind) and weight files; a single file (a babelshard model file, an OpenCLIP weights
file) is a checkpoint too. :func:`weights_checksum` is what a shard's provenance
records for a model that computed its features and what the trainer compares with
the teacher it is configured with.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache

from babelshard.errors import UserError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack")
_CHUNK = 1 << 20


class CheckpointError(UserError):
    """A checkpoint path that is missing, of the wrong kind, or needs a package not installed."""


def checkpoint_type(path: str, expected: tuple[str, ...], what: str) -> str:
    """The ``model_type`` of a transformers directory, which must be one of ``expected``."""
    config = os.path.join(path, "config.json")
    if not os.path.isfile(config):
        raise CheckpointError(f"{path}: not a transformers checkpoint directory (no config.json); {what}")
    with open(config, encoding="utf-8") as handle:
        model_type = json.load(handle).get("model_type", "")
    if model_type not in expected:
        raise CheckpointError(f"{path}: a {model_type or 'unknown'!r} checkpoint; {what} needs {' or '.join(expected)}")
    return model_type


def no_download() -> None:
    """transformers offline, without its per-file progress bars."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    logging.disable_progress_bar()


@lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    status = os.stat(path)
    return _file_sha256(os.path.realpath(path), status.st_size, status.st_mtime_ns)


def weights_checksum(path: str) -> str:
    """sha256 of a checkpoint's weights: of the file itself, or for a directory one sha256
    over the name and sha256 of each weight file in it (configs and tokenizers left out,
    so re-saving a tokenizer does not change it)."""
    if os.path.isfile(path):
        return file_sha256(path)
    if not os.path.isdir(path):
        raise CheckpointError(f"{path}: no such checkpoint file or directory")
    names = sorted(name for name in os.listdir(path) if name.endswith(WEIGHT_SUFFIXES))
    if not names:
        raise CheckpointError(f"{path}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) in the checkpoint directory")
    lines = "".join(f"{name}\t{file_sha256(os.path.join(path, name))}\n" for name in names)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()
