"""Refusing local paths when a job's workers run on other machines.

DataflowRunner always runs its workers elsewhere; PortableRunner, FlinkRunner and
SparkRunner do when their job endpoint, master or external worker pool is not on this
machine's loopback. Those workers cannot read the launcher's files, and what they write
to a local folder lands on their own disks and is lost, so a job that names a local
output folder or local sources is refused before its pipeline is built, with one line
naming the config key. Models and dictionaries are not checked: the worker image
carries them at the same paths (``infra/``).
"""
from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit

from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    PipelineOptions,
    PortableOptions,
    SparkRunnerOptions,
    StandardOptions,
)

from babelshard.errors import UserError
from babelshard.pipelines.jobs.config import JobConfig

LOOPBACK_HOSTS = frozenset({"localhost", "::1", "ip6-localhost"})
LOCAL_MASTERS = frozenset({"[auto]", "[local]", "[collection]", "embed"})  # Beam starts these on this machine
PORTABLE_RUNNERS = {"PortableRunner": "job_endpoint", "FlinkRunner": "flink_master", "SparkRunner": "spark_master_url"}


class RemoteRunnerError(UserError):
    """A local path, or the demo's loopback image server, with workers on other machines."""


def runner_name(options: PipelineOptions) -> str:
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1]


def is_loopback_address(address: str) -> bool:
    """``localhost:8099``, ``127.0.0.1``, ``[::1]:8099``, ``spark://localhost:7077``, ``local[4]``, ``[auto]``."""
    if address in LOCAL_MASTERS or re.fullmatch(r"local(\[[0-9*]+\])?", address):
        return True
    host = urlsplit(address if "://" in address else f"//{address}").hostname or ""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _worker_addresses(options: PipelineOptions, name: str) -> list[tuple[str, str]]:
    """(flag, address) pairs that say where this runner's workers run."""
    flag = PORTABLE_RUNNERS[name]
    views = {"job_endpoint": PortableOptions, "flink_master": FlinkRunnerOptions, "spark_master_url": SparkRunnerOptions}
    addresses = [(flag, getattr(options.view_as(views[flag]), flag))]
    portable = options.view_as(PortableOptions)
    if (portable.environment_type or "").upper() == "EXTERNAL":
        addresses.append(("environment_config", portable.environment_config))
    return [(flag, address) for flag, address in addresses if address]


def remote_runner(options: PipelineOptions) -> str | None:
    """How the options put workers on other machines (e.g. ``--runner=DataflowRunner``); None when they do not."""
    name = runner_name(options)
    if "Dataflow" in name:
        return f"--runner={name}"
    if name not in PORTABLE_RUNNERS:
        return None
    for flag, address in _worker_addresses(options, name):
        if not is_loopback_address(address):
            return f"--runner={name} with --{flag}={address}"
    return None


def is_local_path(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def job_paths(cfg: JobConfig) -> list[tuple[str, str]]:
    """(config key, path) of every file or folder a build job's workers read or write."""
    paths = [("output.folder", cfg.output.folder)]
    if cfg.captions is not None:
        for i, source in enumerate(cfg.captions.sources):
            paths.append((f"captions.sources[{i}].path", source.path))
            if source.image_root:
                paths.append((f"captions.sources[{i}].image_root", source.image_root))
            for lang, path in sorted(getattr(source, "captions", {}).items()):
                paths.append((f"captions.sources[{i}].captions.{lang}", path))
    for section in ("text", "parallel"):
        stream = getattr(cfg, section)
        for i, source in enumerate(stream.sources if stream is not None else ()):
            paths.extend((f"{section}.sources[{i}].paths[{j}]", path) for j, path in enumerate(source.paths))
    if cfg.translate is not None and cfg.translate.cache.url:
        paths.append(("translate.cache.url", cfg.translate.cache.url))
    return paths


def check_worker_paths(paths: Iterable[tuple[str, str]], options: PipelineOptions) -> None:
    """Raise :class:`RemoteRunnerError` for the first local path when workers run on other machines."""
    remote = remote_runner(options)
    if remote is None:
        return
    for key, path in paths:
        if is_local_path(path):
            raise RemoteRunnerError(
                f"{key} is a local path ({path}), which workers of {remote} cannot see: use a gs:// or s3:// URL"
            )


def check_job_paths(cfg: JobConfig, options: PipelineOptions) -> None:
    check_worker_paths(job_paths(cfg), options)


def check_local_runner(options: PipelineOptions, what: str) -> None:
    """Refuse a remote runner for a job that only works on this machine (the demo's loopback image server)."""
    remote = remote_runner(options)
    if remote is not None:
        raise RemoteRunnerError(f"{what}, which workers of {remote} cannot reach: run it with the DirectRunner")
