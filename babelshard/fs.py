"""Filesystem helpers: every path is an fsspec URL (local path, gs://, s3://, memory://)."""
from __future__ import annotations

import os
from typing import Any

import fsspec
from fsspec.core import split_protocol, url_to_fs

from babelshard.errors import MissingDependencyError, UserError

# Extras of babelshard that bring a store's fsspec driver.
_EXTRAS = {"gs": "gcs", "gcs": "gcs", "s3": "s3", "s3a": "s3"}


class StorageURLError(UserError):
    """A URL whose protocol fsspec does not know, or whose filesystem cannot start."""


def protocol_problem(protocol: str) -> str:
    """Why fsspec has no filesystem for ``protocol``: a protocol it does not know, or
    one whose backend package is not installed (named, with the babelshard extra)."""
    from fsspec.registry import known_implementations

    known = known_implementations.get(protocol)
    if known is None:
        return f"{protocol}:// is not a storage protocol fsspec knows (known: file, memory, s3, gs, az, http, ...)"
    package = known["class"].split(".", 1)[0]
    extra = _EXTRAS.get(protocol)
    hint = f" (or pip install 'babelshard[{extra}]')" if extra else ""
    return f"{protocol}:// paths need the fsspec backend {package}: pip install {package}{hint}"


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem and the path inside it for ``url``; a protocol that is
    unknown or whose driver is not installed is a one-line error saying what to install."""
    protocol = split_protocol(str(url))[0]
    try:
        fs, path = url_to_fs(str(url))
    except ImportError:
        raise MissingDependencyError(f"{url}: {protocol_problem(protocol)}") from None
    except ValueError as error:
        unknown = protocol is not None and protocol not in fsspec.available_protocols()
        raise StorageURLError(f"{url}: {protocol_problem(protocol) if unknown else error}") from None
    except OSError as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise StorageURLError(f"{url}: cannot start its filesystem: {first_line}") from None
    return fs, path


def open_binary(url: str, decompress: bool = False):
    """A file opened for reading; with ``decompress``, .gz/.bz2/.xz/.zst are decompressed."""
    from fsspec.core import OpenFile
    from fsspec.utils import infer_compression

    fs, path = filesystem(url)
    return OpenFile(fs, path, mode="rb", compression=infer_compression(path) if decompress else None)


def is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("file", "local")


def join(url: str, *names: str) -> str:
    url = str(url)
    if "://" in url:
        return "/".join([url.rstrip("/"), *names])
    return os.path.join(url, *names)


def read_bytes(url: str) -> bytes:
    with open_binary(url) as handle:
        return handle.read()


def read_text(url: str) -> str:
    return read_bytes(url).decode("utf-8")


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path)


PARTIAL_MARK = ".partial-"


def partial_name(path: str) -> str:
    """The hidden name a file is written under before it is moved to ``path``."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{PARTIAL_MARK}{os.getpid()}")


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write a file so that readers see either nothing or the whole file: under a
    hidden temporary name, then moved, on local disks; object stores make a single
    PUT visible whole."""
    fs, path = filesystem(url)
    if is_local(fs):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        partial = partial_name(path)
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    else:
        # Object stores make a single PUT visible atomically.
        with fs.open(path, "wb") as handle:
            handle.write(data)
