"""One-line messages for paths whose storage backend is not installed or not known.

fsspec raises them from its registry (``gs://`` without gcsfs, an unknown protocol),
Beam from its own filesystem registry; either surfaces deep inside a command as a long
traceback, so the command line turns them into one line naming what to install.
"""
from __future__ import annotations

import re
from typing import Iterator

BEAM_EXTRAS = {"gs": "gcp", "s3": "aws", "azfs": "azure"}
BEAM_NO_FILESYSTEM = "Unable to get filesystem from specified path"


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the errors it was raised from or during."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def fsspec_protocol(error: BaseException) -> str | None:
    """The protocol fsspec's registry was asked for when it raised ``error``."""
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "get_filesystem_class" and frame.f_globals.get("__name__") == "fsspec.registry":
            protocol = frame.f_locals.get("protocol")
            return protocol if isinstance(protocol, str) else None
        traceback = traceback.tb_next
    return None


def fsspec_message(protocol: str) -> str:
    from fsspec.registry import known_implementations

    known = known_implementations.get(protocol)
    if known is None:
        return f"{protocol}:// is not a storage protocol fsspec knows (known: file, memory, s3, gs, az, http, ...)"
    package = known["class"].split(".", 1)[0]
    return f"{protocol}:// paths need the fsspec backend {package}: pip install {package}"


def beam_message(error: BaseException) -> str:
    match = re.search(r"Path specified: (\S+)", str(error))
    path = match.group(1) if match else "this path"
    scheme = path.split("://", 1)[0] if "://" in path else ""
    extra = BEAM_EXTRAS.get(scheme)
    install = f"pip install 'apache-beam[{extra}]'" if extra else "install the Beam filesystem for its scheme"
    return f"{path}: Beam has no filesystem for {scheme or 'it'}://; {install}"


def backend_message(error: BaseException) -> str | None:
    """The one-line message for a missing or unknown storage backend, else None."""
    for item in chain(error):
        if isinstance(item, (ImportError, ValueError)):
            protocol = fsspec_protocol(item)
            if protocol is not None:
                return fsspec_message(protocol)
        if isinstance(item, ValueError) and str(item).startswith(BEAM_NO_FILESYSTEM):
            return beam_message(item)
    return None
