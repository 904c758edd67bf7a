"""An exclusive lock on a job's output folder for the job's lifetime.

``<folder>/.babelshard.lock`` holds the run's pid (with the process's start time, so
a reused pid is not mistaken for it), host, start time and a random token. The token
is also put in the environment, so that every process the run starts (the
multi-processing DirectRunner's workers) carries it: the lock is stale only when the
run's process is gone and no process on the host carries the token any more. A driver killed with
``kill -9`` leaves workers that may write for a while; a rerun waits for them, not
for the driver. A lock taken on another host cannot be checked from here and is
refused; the message names the file to delete when that run is known to be gone.

On local disks the lock file is created with ``O_EXCL``; object stores have no
exclusive create, so there the lock is a check-then-write (it stops the usual
mistake of starting a second run, not a race of two starting in the same second).
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from babelshard.errors import UserError
from babelshard.fs import PARTIAL_MARK, filesystem, is_local, join

LOCK_NAME = ".babelshard.lock"
TOKEN_VARIABLE = "BABELSHARD_RUN_TOKEN"


class FolderLockedError(UserError):
    """Another run holds the output folder."""


def process_start(pid: int) -> str | None:
    """When a process started (clock ticks since boot, Linux), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def lock_info(token: str) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "pid_start": process_start(os.getpid()),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "token": token,
    }


def token_alive(token: str) -> bool:
    """True while any process on this host has the token in the environment it started
    with (Linux; the run's own process set it later, so it is checked by pid)."""
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                if needle in handle.read().split(b"\0"):
                    return True
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_alive(info: dict[str, Any]) -> bool:
    """Whether the run that wrote ``info`` may still be writing."""
    if info.get("host") != socket.gethostname():
        return True  # cannot be checked from here
    pid = int(info.get("pid", -1))
    if pid > 0 and pid_alive(pid) and info.get("pid_start") in (None, process_start(pid)):
        return True
    return os.path.isdir("/proc") and token_alive(str(info.get("token", "")))


def _read_lock(fs, path: str) -> dict[str, Any] | None:
    try:
        with fs.open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return {}  # a lock cut short by a kill between create and write: its run is gone


def _create(fs, path: str, data: bytes) -> bool:
    """Create the lock file; False when it exists already."""
    if is_local(fs):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return True
    if fs.exists(path):
        return False
    with fs.open(path, "wb") as handle:
        handle.write(data)
    return True


def acquire(folder: str) -> dict[str, Any]:
    """Take the folder's lock or raise :class:`FolderLockedError`; a stale lock is replaced."""
    fs, root = filesystem(folder)
    fs.makedirs(root, exist_ok=True)
    path = f"{root.rstrip('/')}/{LOCK_NAME}"
    info = lock_info(uuid.uuid4().hex)
    data = json.dumps(info, sort_keys=True).encode("utf-8")
    for _ in range(2):
        if _create(fs, path, data):
            return info
        held = _read_lock(fs, path)
        if held is None:
            continue  # released meanwhile
        if held and holder_alive(held):
            where = f"pid {held.get('pid')} on {held.get('host')}, started {held.get('started')}"
            raise FolderLockedError(
                f"{folder} is in use by another babelshard run ({where}); wait for it to end, "
                f"or delete {join(folder, LOCK_NAME)} if that run is gone"
            )
        fs.rm(path)  # stale: its run and every process it started are gone
    raise FolderLockedError(f"{folder}: could not take {LOCK_NAME}: another run took it at the same time")


def remove_leftovers(folder: str) -> list[str]:
    """Hidden partial files a killed run left in the folder tree (``.shard-N.tar.PID-ID.partial``,
    ``.stats.json.partial-PID``), removed once the lock is ours: no run is writing them.
    Object stores have none (files appear there whole)."""
    fs, root = filesystem(folder)
    if not is_local(fs):
        return []
    removed = []
    for path, _, names in os.walk(root):
        for name in names:
            if name.startswith(".") and (name.endswith(".partial") or PARTIAL_MARK in name):
                os.remove(os.path.join(path, name))
                removed.append(os.path.join(path, name))
    return removed


def release(folder: str, info: dict[str, Any]) -> None:
    fs, root = filesystem(folder)
    path = f"{root.rstrip('/')}/{LOCK_NAME}"
    if (_read_lock(fs, path) or {}).get("token") == info["token"]:
        fs.rm(path)


@contextmanager
def locked_folder(folder: str) -> Iterator[dict[str, Any]]:
    """Hold ``folder``'s lock while the block runs; processes started meanwhile carry its
    token. Partial files of an earlier, killed run are removed first."""
    info = acquire(folder)
    remove_leftovers(folder)
    previous = os.environ.get(TOKEN_VARIABLE)
    os.environ[TOKEN_VARIABLE] = info["token"]
    try:
        yield info
    finally:
        if previous is None:
            os.environ.pop(TOKEN_VARIABLE, None)
        else:
            os.environ[TOKEN_VARIABLE] = previous
        release(folder, info)
