"""Filesystem helpers: every path is an fsspec URL (local path, gs://, s3://, memory://)."""
from __future__ import annotations

import os
from typing import Any

import fsspec
from fsspec.core import url_to_fs


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it for ``url``."""
    fs, path = url_to_fs(str(url))
    return fs, path


def is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def join(url: str, *names: str) -> str:
    url = str(url)
    if "://" in url:
        return "/".join([url.rstrip("/"), *names])
    return os.path.join(url, *names)


def read_bytes(url: str) -> bytes:
    with fsspec.open(str(url), "rb") as handle:
        return handle.read()


def read_text(url: str) -> str:
    return read_bytes(url).decode("utf-8")


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path)


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write a small file so that readers see either nothing or the whole file."""
    fs, path = filesystem(url)
    if is_local(fs):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        partial = f"{path}.partial-{os.getpid()}"
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    else:
        # Object stores make a single PUT visible atomically.
        with fs.open(path, "wb") as handle:
            handle.write(data)
