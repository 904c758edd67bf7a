"""The trainer's files (model files and checkpoints): plain data, loaded without running code.

Both are torch zip archives holding only tensors, dicts, lists, tuples, numbers and
strings, and load with torch's weights-only unpickler, which refuses every other global:
a crafted file (a pickle that would call ``os.system``) is refused with one line naming
it, and nothing in it runs. Checkpoints written before random generator states were
stored as lists also hold numpy's uint32 arrays; those four numpy globals are allowed.

Writes go to a temporary name beside the target, are synced to disk, then renamed: a
kill leaves the earlier file or the new one, never a torn file under the final name.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import re
import zipfile
from typing import Any, Iterable

import numpy as np
import torch

from babelshard.errors import UserError

PARTIAL_SUFFIX = ".partial"

# numpy's legacy random state: ("MT19937", uint32 array, pos, has_gauss, gauss)
_NUMPY_CORE = getattr(np, "_core", None) or np.core
LEGACY_NUMPY_GLOBALS = [_NUMPY_CORE.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


class UnreadableTrainerFile(UserError):
    """A model file or checkpoint that is refused (it would run code) or cannot be read."""


def refused_global(error: Exception) -> str | None:
    """What the weights-only unpickler refused to call or build, in a few words (its
    message is a page); None when it stopped at something else (not a pickle at all)."""
    text = str(error)
    found = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", text, re.IGNORECASE)
    found = found or re.search(r"unrecognized function (\S+)", text)
    if found:
        return f"it would call {found.group(1)}"
    found = re.search(r"but got (<class [^>]+>)", text)
    return f"it would build {found.group(1)}" if found else None


def unpickler_reason(error: Exception) -> str:
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", str(error))
    return found.group(1).strip() if found else first_line(error)


def first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def load_plain(path: str, what: str) -> dict[str, Any]:
    """The dict stored at ``path``, loaded weights-only; ``what`` names the file in errors
    (``model file``, ``checkpoint``)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with legacy_numpy_allowed():
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = refused_global(error)
        if refused is None:
            raise UnreadableTrainerFile(f"{path}: not a readable {what} ({unpickler_reason(error)})") from None
        raise UnreadableTrainerFile(
            f"{path}: refused: {refused}; a babelshard {what} holds only tensors and plain data "
            "(nothing in the file was run)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise UnreadableTrainerFile(f"{path}: not a readable {what} ({first_line(error)})") from None
    if not isinstance(data, dict):
        raise UnreadableTrainerFile(f"{path}: not a babelshard {what} (it holds a {type(data).__name__})")
    return data


def legacy_numpy_allowed() -> contextlib.AbstractContextManager:
    if hasattr(torch.serialization, "safe_globals"):
        return torch.serialization.safe_globals(LEGACY_NUMPY_GLOBALS)
    torch.serialization.add_safe_globals(LEGACY_NUMPY_GLOBALS)  # torch 2.4 has no context manager
    return contextlib.nullcontext()


def require_keys(data: dict[str, Any], keys: Iterable[str], path: str, what: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise UnreadableTrainerFile(f"{path}: not a babelshard {what} (no {', '.join(missing)})")


def save_plain(path: str, payload: dict[str, Any]) -> None:
    """Write ``payload`` whole to ``path``: temporary name, fsync, rename, fsync the folder."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    partial = f"{path}{PARTIAL_SUFFIX}"
    with open(partial, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    sync_folder(folder)


def sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
