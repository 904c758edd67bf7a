"""Image download: fetch in a thread pool, check and resize, count.

Per record the work is two plain functions: :func:`fetch_record` (network, runs in the
pool) and :func:`finish_record` (checks, img2dataset's ``Resizer``; runs in the calling
thread, as img2dataset resizes in its main thread). :func:`download_record` is both in
sequence. :class:`Downloads` keeps up to twice ``thread_count`` downloads in flight and
hands results back as they complete; :mod:`babelshard.pipelines.captions.download_shards`
uses it to fetch and write one planned shard in one step, so images never cross a shuffle.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Iterator

from apache_beam.metrics import Metrics
from apache_beam.utils.shared import Shared

from babelshard.pipelines.captions.config import DownloadConfig
from babelshard.pipelines.captions.fetch import Fetched, FetchError, HostLimiter, build_opener, fetch_url
from babelshard.pipelines.captions.images import ImageError, ImageReason, process_image
from babelshard.pipelines.captions.resize import make_resizer
from babelshard.records import CaptionSample
from babelshard.stage import StageCounters
from babelshard.stats import Drop

STAGE = "download"  # drop reasons: fetch.FetchReason, images.ImageReason
# Per-host limits hold per worker process (each its share of the job's limits when the
# config declares worker_processes), so every DoFn instance and thread of a process
# takes its HostLimiter from this one handle. Downloading is I/O in a thread pool, not a
# model, so RunInference does not apply; the handle is module-level because the
# download-and-write step builds its Downloads from the settings alone, in setup().
_LIMITER = Shared()
_POOL = Shared()


def shared_limiter(settings: DownloadConfig) -> HostLimiter:
    """The process's limiter (rebuilt when asked for other limits: one pipeline has one setting)."""
    limits = (settings.process_host_concurrency, settings.process_host_rate)
    return _LIMITER.acquire(lambda: HostLimiter(*limits), tag=limits)


def shared_pool(thread_count: int) -> concurrent.futures.ThreadPoolExecutor:
    """The process's download threads, shared by every DoFn instance (Beam runs several
    bundles in threads of one worker process): ``thread_count`` is per worker process."""
    return _POOL.acquire(
        lambda: concurrent.futures.ThreadPoolExecutor(thread_count, thread_name_prefix="download"), tag=thread_count
    )


@dataclass
class DownloadResources:
    settings: DownloadConfig
    opener: Any
    limiter: HostLimiter
    resizer: Any


def make_download_resources(settings: DownloadConfig) -> DownloadResources:
    return DownloadResources(settings, build_opener(settings), shared_limiter(settings), make_resizer(settings.image))


def fetch_record(record: CaptionSample, resources: DownloadResources) -> Fetched | Drop:
    try:
        return fetch_url(record.url, resources.opener, resources.limiter, resources.settings)
    except FetchError as error:
        return Drop(record.key, STAGE, error.reason, detail=error.detail, url=record.url)


def finish_record(record: CaptionSample, fetched: Fetched | Drop, resources: DownloadResources) -> CaptionSample | Drop:
    """The sample with its resized image and sizes in the json, or a drop."""
    if isinstance(fetched, Drop):
        return fetched
    digest = hashlib.sha256(fetched.data).hexdigest()
    expected = record.meta.get("sha256")
    if expected and expected != digest:
        return Drop(record.key, STAGE, ImageReason.HASH_MISMATCH, detail=f"got {digest}", url=record.url)
    try:
        image = process_image(fetched.data, resources.settings.max_pixels, resources.resizer)
    except ImageError as error:
        detail = f"{error.detail}; Content-Type {fetched.content_type}" if fetched.content_type else error.detail
        return Drop(record.key, STAGE, error.reason, detail=detail, url=record.url)
    meta = {
        **record.meta,
        "sha256": digest,
        "width": image.width,
        "height": image.height,
        "original_width": image.original_width,
        "original_height": image.original_height,
    }
    return dataclasses.replace(
        record, image=image.data, image_format=resources.settings.image.encode_format, meta=meta
    )


def download_record(record: CaptionSample, resources: DownloadResources) -> CaptionSample | Drop:
    return finish_record(record, fetch_record(record, resources), resources)


class Downloads:
    """Downloads in a thread pool, at most ``2 * thread_count`` in flight; results (checked
    and resized in the caller's thread) come back in completion order, counted."""

    def __init__(self, settings: DownloadConfig):
        self.resources = make_download_resources(settings)
        self.pool = shared_pool(settings.thread_count)
        self.limit = 2 * settings.thread_count
        self.in_flight: collections.deque = collections.deque()
        self.counters = StageCounters(STAGE)
        self.retried = Metrics.counter(STAGE, "retried_requests")
        self.image_bytes = Metrics.distribution(STAGE, "image_bytes")

    def submit(self, record: CaptionSample) -> Iterator[CaptionSample | Drop]:
        """Start one download; yields whatever finished meanwhile (waits when the pool is full)."""
        self.counters.inputs.inc()
        self.in_flight.append((record, self.pool.submit(fetch_record, record, self.resources)))
        yield from self.completed(block=len(self.in_flight) >= self.limit)

    def drain(self) -> Iterator[CaptionSample | Drop]:
        while self.in_flight:
            yield from self.completed(block=True)

    def completed(self, block: bool) -> Iterator[CaptionSample | Drop]:
        """Results of finished downloads; with ``block``, waits until at least one is done."""
        if block and self.in_flight:
            concurrent.futures.wait([future for _, future in self.in_flight], return_when="FIRST_COMPLETED")
        still = collections.deque()
        while self.in_flight:
            record, future = self.in_flight.popleft()
            if future.done():
                yield self.finish(record, future.result())
            else:
                still.append((record, future))
        self.in_flight = still

    def finish(self, record: CaptionSample, fetched: Fetched | Drop) -> CaptionSample | Drop:
        if isinstance(fetched, Fetched):
            self.image_bytes.update(len(fetched.data))
            if fetched.attempts > 1:
                self.retried.inc(fetched.attempts - 1)
        result = finish_record(record, fetched, self.resources)
        if isinstance(result, Drop):
            self.counters.count(0, {result.reason: 1})
        else:
            self.counters.count(1, {})
        return result

    def close(self) -> None:
        """Cancels this instance's queued downloads; the shared pool lives on for the others."""
        for _, future in self.in_flight:
            future.cancel()
        self.in_flight.clear()
