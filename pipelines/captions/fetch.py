"""Fetching one image safely and politely. Plain Python, no Beam.

img2dataset's ``download_image`` opens URLs with urllib's default opener: it follows
redirects anywhere, reads any number of bytes and retries every error at once. This
module keeps its urllib approach and its ``X-Robots-Tag`` parsing (``is_disallowed``)
and adds what it lacks:

- every connection (the first and each redirect) resolves the host, refuses private,
  loopback (unless allowed), link-local, multicast and reserved addresses, then
  connects to the address it checked (no DNS rebinding between check and connect;
  :mod:`babelshard.pipelines.captions.connections`);
- only http(s) (and ``file://`` when enabled), no proxies from the environment;
- a byte limit (``Content-Length`` first, then while reading) and a per-image deadline
  that bounds the whole exchange: every connect and every receive (headers and body)
  waits at most the per-read timeout or the time left, whichever is shorter, so a
  server that drips bytes cannot hold a download past its deadline;
- URLs with credentials (``user:pass@host``) or an out-of-range port are invalid, and
  a redirect is checked like the first URL before urllib looks at it;
- retries only for 429, 5xx, timeouts and dropped connections, with exponential
  backoff and ``Retry-After``; per-host concurrency and request-rate limits.

Failures raise :class:`FetchError` with an enumerated ``reason``.
"""
from __future__ import annotations

import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from babelshard import __version__
from babelshard.pipelines.captions.config import DownloadConfig
from babelshard.pipelines.captions.connections import (
    BlockedAddressError,
    DeadlineExceeded,
    GuardedHTTPHandler,
    GuardedHTTPSHandler,
    deadline_of,
)
from babelshard.stats import DropError, reason_enum


FetchReason = reason_enum("FetchReason", __name__)


CHUNK = 1 << 16


class FetchError(DropError):
    def __init__(self, reason: str, detail: str = "", retryable: bool = False, retry_after: float | None = None):
        super().__init__(reason, detail)
        self.retryable, self.retry_after = retryable, retry_after


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str
    content_type: str
    attempts: int = 1


class _LimitedRedirectHandler(urllib.request.HTTPRedirectHandler):
    def __init__(self, max_redirects: int):
        super().__init__()
        self.max_redirects = max_redirects
        # urllib's own limits (10 hops, 4 visits of one URL) would raise a bare 302
        # HTTPError; ours trigger first, with their own reason.
        self.max_redirections = self.max_repeats = max_redirects + 1

    def http_error_302(self, req, fp, code, msg, headers):
        # urllib refuses a redirect to file:// and others with a bare HTTPError 302:
        # check the target first, like the first URL, with our own reasons.
        location = headers.get("location") or headers.get("uri")
        if location is not None:
            try:
                check_http_url(urllib.parse.urljoin(req.full_url, location.strip()), "redirect to ")
            except FetchError:
                fp.close()
                raise
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        hops = getattr(req, "babelshard_hops", 0) + 1
        try:
            check_http_url(newurl, "redirect to ")
        except FetchError:
            fp.close()
            raise
        if hops > self.max_redirects:
            fp.close()
            raise FetchError(FetchReason.TOO_MANY_REDIRECTS, f"more than {self.max_redirects}")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.babelshard_hops = hops
            new.babelshard_deadline = deadline_of(req)
        return new


def build_opener(settings: DownloadConfig) -> urllib.request.OpenerDirector:
    """An opener with only the handlers we trust: no proxies, no ftp, no file."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        GuardedHTTPHandler(settings.allow_loopback),
        GuardedHTTPSHandler(settings.allow_loopback),
        _LimitedRedirectHandler(settings.max_redirects),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class HostLimiter:
    """Per-host concurrency (a semaphore per host) and request rate (evenly spaced starts)."""

    def __init__(self, concurrency: int, rate: float):
        self.concurrency, self.rate = concurrency, rate
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._slots.setdefault(host, threading.BoundedSemaphore(self.concurrency))
        with semaphore:
            if self.rate > 0:
                now = time.monotonic()
                start = self.reserve_start(host, now)
                if start > now:
                    time.sleep(start - now)
            yield

    def reserve_start(self, host: str, now: float) -> float:
        """When a request to ``host`` asked for at ``now`` may start: starts are spaced
        ``1 / rate`` apart, the next one never before ``now``."""
        with self._lock:
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + 1.0 / self.rate
        return start


def user_agent(token: str) -> str:
    return f"Mozilla/5.0 (compatible; {token}/{__version__})"


def retry_delay(attempt: int, retry_after: float | None, settings: DownloadConfig) -> float:
    delay = settings.backoff * (2**attempt)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, settings.max_backoff)


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def http_error(error: urllib.error.HTTPError) -> FetchError:
    code = error.code
    retry_after = _retry_after(error.headers)
    error.close()
    if code in (404, 410):
        return FetchError(FetchReason.NOT_FOUND, f"HTTP {code}")
    if code == 429:
        return FetchError(FetchReason.RATE_LIMITED, "HTTP 429", retryable=True, retry_after=retry_after)
    if code >= 500:
        return FetchError(FetchReason.HTTP_SERVER_ERROR, f"HTTP {code}", retryable=True, retry_after=retry_after)
    return FetchError(FetchReason.HTTP_CLIENT_ERROR, f"HTTP {code}")


def network_error(error: BaseException, settings: DownloadConfig) -> FetchError:
    """Map urllib / socket / http.client errors to a reason."""
    cause = error.reason if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException) else error
    if isinstance(cause, DeadlineExceeded):
        return deadline_error(settings)
    if isinstance(cause, BlockedAddressError):
        return FetchError(FetchReason.BLOCKED_ADDRESS, str(cause))
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return FetchError(FetchReason.TIMEOUT, str(cause) or "timed out", retryable=True)
    if isinstance(cause, http.client.InvalidURL) or isinstance(cause, (ValueError, UnicodeError)):
        return FetchError(FetchReason.INVALID_URL, str(cause)[:200])
    if isinstance(cause, socket.gaierror):
        return FetchError(FetchReason.CONNECTION_ERROR, f"name resolution failed: {cause}")
    return FetchError(FetchReason.CONNECTION_ERROR, f"{type(cause).__name__}: {cause}"[:300], retryable=True)


def deadline_error(settings: DownloadConfig) -> FetchError:
    return FetchError(FetchReason.TIMEOUT, f"image not complete within {settings.deadline:g} s", retryable=False)


def read_body(response, settings: DownloadConfig, deadline: float) -> bytes:
    """The response body within the byte limit and the deadline.

    A declared length is read in one call (the socket holds each receive to the
    deadline); a body of unknown length is read in chunks, counted against the limit."""
    declared = response.headers.get("Content-Length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None:
        if expected > settings.max_bytes:
            raise FetchError(FetchReason.TOO_LARGE, f"Content-Length {expected} > {settings.max_bytes}")
        data = response.read(expected)
        if len(data) < expected:
            raise FetchError(FetchReason.INCOMPLETE_READ, f"{len(data)} of {expected} bytes", retryable=True)
        return data
    chunks, total = [], 0
    while True:
        if time.monotonic() > deadline:
            raise deadline_error(settings)
        chunk = response.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > settings.max_bytes:
            raise FetchError(FetchReason.TOO_LARGE, f"more than {settings.max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def robots_disallowed(headers, settings: DownloadConfig) -> bool:
    """img2dataset's ``X-Robots-Tag`` check (its module loads only when a response has one)."""
    if not settings.disallowed_header_directives or not headers.get_all("X-Robots-Tag"):
        return False
    from babelshard.pipelines.captions.images import import_img2dataset

    downloader = import_img2dataset("downloader")
    directives = {d.strip().lower() for d in settings.disallowed_header_directives}
    return bool(downloader.is_disallowed(headers, settings.user_agent_token.strip().lower(), directives))


def fetch_http_once(url: str, opener, settings: DownloadConfig, deadline: float) -> Fetched:
    request = urllib.request.Request(url, headers={"User-Agent": user_agent(settings.user_agent_token)})
    request.babelshard_deadline = deadline
    try:
        with opener.open(request, timeout=settings.timeout) as response:
            if robots_disallowed(response.headers, settings):
                raise FetchError(FetchReason.ROBOTS_DISALLOWED, ", ".join(response.headers.get_all("X-Robots-Tag") or []))
            data = read_body(response, settings, deadline)
            return Fetched(data, response.geturl(), response.headers.get("Content-Type", ""))
    except FetchError:
        raise
    except urllib.error.HTTPError as error:
        raise http_error(error) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as error:
        raise network_error(error, settings) from None


def fetch_file(url: str, settings: DownloadConfig) -> Fetched:
    path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path)
    try:
        size = os.path.getsize(path)
        if size > settings.max_bytes:
            raise FetchError(FetchReason.TOO_LARGE, f"{size} bytes > {settings.max_bytes}")
        with open(path, "rb") as handle:
            return Fetched(handle.read(), url, "")
    except FileNotFoundError:
        raise FetchError(FetchReason.NOT_FOUND, f"no file {path}") from None
    except IsADirectoryError:
        raise FetchError(FetchReason.NOT_FOUND, f"{path} is a folder") from None
    except PermissionError as error:
        raise FetchError(FetchReason.HTTP_CLIENT_ERROR, f"cannot read {path}: {error}") from None


def check_http_url(url: str, what: str = "") -> tuple[str, str]:
    return check_url(url, ("http", "https"), what)


def check_url(url: str, allowed: tuple[str, ...], what: str = "") -> tuple[str, str]:
    """The URL's scheme and host, or a FetchError: a scheme not in ``allowed``, no host,
    a port out of range, credentials in the URL. ``what`` prefixes the detail."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as error:
        raise FetchError(FetchReason.INVALID_URL, f"{what}{error}") from None
    scheme = parts.scheme.lower()
    if scheme not in allowed:
        hint = " (enable download.allow_file_urls)" if scheme == "file" and not what else ""
        raise FetchError(FetchReason.UNSUPPORTED_SCHEME, f"{what}{scheme or 'no'} scheme{hint}")
    if scheme == "file":
        return scheme, ""
    if not parts.hostname:
        raise FetchError(FetchReason.INVALID_URL, f"{what}URL with no host")
    if parts.username is not None or parts.password is not None:
        raise FetchError(FetchReason.INVALID_URL, f"{what}URL with credentials (user:password@host)")
    return scheme, parts.hostname.lower()


def check_scheme(url: str, settings: DownloadConfig) -> tuple[str, str]:
    """The URL's scheme and host, or a FetchError for URLs we do not fetch."""
    allowed = ("http", "https", "file") if settings.allow_file_urls else ("http", "https")
    return check_url(url, allowed)


def fetch_url(url: str, opener, limiter: HostLimiter, settings: DownloadConfig) -> Fetched:
    """Fetch ``url`` with retries and backoff; raises :class:`FetchError`."""
    scheme, host = check_scheme(url, settings)
    if scheme == "file":
        return fetch_file(url, settings)
    deadline = None  # starts with the first request: waiting for the host's turn is not the image's time
    for attempt in range(settings.retries + 1):
        try:
            with limiter.slot(host):
                deadline = deadline or time.monotonic() + settings.deadline
                fetched = fetch_http_once(url, opener, settings, deadline)
            return Fetched(fetched.data, fetched.url, fetched.content_type, attempts=attempt + 1)
        except FetchError as error:
            delay = retry_delay(attempt, error.retry_after, settings)
            if not error.retryable or attempt == settings.retries or time.monotonic() + delay > deadline:
                if attempt:
                    error.detail = f"{error.detail} after {attempt + 1} attempts"
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")
