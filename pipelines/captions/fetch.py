"""Fetching one image safely and politely. Plain Python, no Beam.

img2dataset's ``download_image`` opens URLs with urllib's default opener: it follows
redirects anywhere, reads any number of bytes and retries every error at once. This
module keeps its urllib approach and its ``X-Robots-Tag`` parsing (``is_disallowed``)
and adds what it lacks:

- every connection (the first and each redirect) resolves the host, refuses private,
  loopback (unless allowed), link-local, multicast and reserved addresses, then
  connects to the address it checked (no DNS rebinding between check and connect);
- only http(s) (and ``file://`` when enabled), no proxies from the environment;
- a byte limit (``Content-Length`` first, then while reading) and a per-image deadline;
- retries only for 429, 5xx, timeouts and dropped connections, with exponential
  backoff and ``Retry-After``; per-host concurrency and request-rate limits.

Failures raise :class:`FetchError` with an enumerated ``reason``.
"""
from __future__ import annotations

import functools
import http.client
import ipaddress
import os
import socket
import ssl
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
from babelshard.stats import Reason


class FetchReason(Reason):
    """Drop reasons of the download stage that come from fetching."""

    UNSUPPORTED_SCHEME = "unsupported_scheme", "the URL (or a redirect) is not http(s) (or file:// when allowed)"
    INVALID_URL = "invalid_url", "the URL cannot be parsed or has no host"
    BLOCKED_ADDRESS = "blocked_address", "the host resolves to a private, loopback or otherwise non-public address"
    NOT_FOUND = "not_found", "HTTP 404 or 410, or no such local file"
    HTTP_CLIENT_ERROR = "http_client_error", "another HTTP 4xx, or a local file that cannot be read"
    HTTP_SERVER_ERROR = "http_server_error", "HTTP 5xx after the configured retries"
    RATE_LIMITED = "rate_limited", "HTTP 429 after the configured retries"
    TIMEOUT = "timeout", "no answer within the timeout, or the image not complete within the deadline"
    CONNECTION_ERROR = "connection_error", "name resolution failed, or the connection broke after the configured retries"
    INCOMPLETE_READ = "incomplete_read", "fewer bytes than Content-Length, after the configured retries"
    TOO_MANY_REDIRECTS = "too_many_redirects", "more redirects than max_redirects"
    TOO_LARGE = "too_large", "more bytes than max_bytes"
    ROBOTS_DISALLOWED = "robots_disallowed", "an X-Robots-Tag header names a disallowed directive (noai, noimageai, ...)"


CHUNK = 1 << 16


class FetchError(Exception):
    def __init__(self, reason: str, detail: str = "", retryable: bool = False, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail
        self.retryable, self.retry_after = retryable, retry_after


class BlockedAddressError(OSError):
    """Raised inside the connection, before any packet goes to a refused address."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str
    content_type: str
    attempts: int = 1


def address_allowed(ip: str, allow_loopback: bool) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def guarded_create_connection(address, timeout=None, source_address=None, *, allow_loopback: bool = False, **_):
    """``socket.create_connection`` that checks every resolved address first."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        if not address_allowed(sockaddr[0], allow_loopback):
            raise BlockedAddressError(f"{host} resolves to {sockaddr[0]}")
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"could not connect to {host}:{port}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, allow_loopback: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(guarded_create_connection, allow_loopback=allow_loopback)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, allow_loopback: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(guarded_create_connection, allow_loopback=allow_loopback)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_loopback: bool):
        super().__init__()
        self.allow_loopback = allow_loopback

    def http_open(self, req):
        return self.do_open(functools.partial(_GuardedHTTPConnection, allow_loopback=self.allow_loopback), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_loopback: bool):
        super().__init__(context=ssl.create_default_context())
        self.allow_loopback = allow_loopback

    def https_open(self, req):
        factory = functools.partial(_GuardedHTTPSConnection, allow_loopback=self.allow_loopback)
        return self.do_open(factory, req, context=self._context)


class _LimitedRedirectHandler(urllib.request.HTTPRedirectHandler):
    def __init__(self, max_redirects: int):
        super().__init__()
        self.max_redirects = max_redirects
        # urllib's own limits (10 hops, 4 visits of one URL) would raise a bare 302
        # HTTPError; ours trigger first, with their own reason.
        self.max_redirections = self.max_repeats = max_redirects + 1

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        hops = getattr(req, "babelshard_hops", 0) + 1
        if scheme not in ("http", "https"):
            fp.close()
            raise FetchError(FetchReason.UNSUPPORTED_SCHEME, f"redirect to {scheme or 'a relative'} URL {newurl[:200]}")
        if hops > self.max_redirects:
            fp.close()
            raise FetchError(FetchReason.TOO_MANY_REDIRECTS, f"more than {self.max_redirects}")
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.babelshard_hops = hops
        return new


def build_opener(settings: DownloadConfig) -> urllib.request.OpenerDirector:
    """An opener with only the handlers we trust: no proxies, no ftp, no file."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _GuardedHTTPHandler(settings.allow_loopback),
        _GuardedHTTPSHandler(settings.allow_loopback),
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
                with self._lock:
                    now = time.monotonic()
                    start = max(now, self._next_start.get(host, now))
                    self._next_start[host] = start + 1.0 / self.rate
                if start > now:
                    time.sleep(start - now)
            yield


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


def network_error(error: BaseException) -> FetchError:
    """Map urllib / socket / http.client errors to a reason."""
    cause = error.reason if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException) else error
    if isinstance(cause, BlockedAddressError):
        return FetchError(FetchReason.BLOCKED_ADDRESS, str(cause))
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return FetchError(FetchReason.TIMEOUT, str(cause) or "timed out", retryable=True)
    if isinstance(cause, http.client.InvalidURL) or isinstance(cause, (ValueError, UnicodeError)):
        return FetchError(FetchReason.INVALID_URL, str(cause)[:200])
    if isinstance(cause, socket.gaierror):
        return FetchError(FetchReason.CONNECTION_ERROR, f"name resolution failed: {cause}")
    return FetchError(FetchReason.CONNECTION_ERROR, f"{type(cause).__name__}: {cause}"[:300], retryable=True)


def read_body(response, settings: DownloadConfig, deadline: float) -> bytes:
    """The response body within the byte limit and the deadline."""
    declared = response.headers.get("Content-Length")
    expected = int(declared) if declared and declared.isdigit() else None
    if expected is not None and expected > settings.max_bytes:
        raise FetchError(FetchReason.TOO_LARGE, f"Content-Length {expected} > {settings.max_bytes}")
    chunks, total = [], 0
    while True:
        if time.monotonic() > deadline:
            raise FetchError(FetchReason.TIMEOUT, f"image not complete within {settings.deadline:g} s", retryable=False)
        chunk = response.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > settings.max_bytes:
            raise FetchError(FetchReason.TOO_LARGE, f"more than {settings.max_bytes} bytes")
        chunks.append(chunk)
    if expected is not None and total < expected:
        raise FetchError(FetchReason.INCOMPLETE_READ, f"{total} of {expected} bytes", retryable=True)
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
        raise network_error(error) from None


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


def check_scheme(url: str, settings: DownloadConfig) -> tuple[str, str]:
    """The URL's scheme and host, or a FetchError for schemes we do not fetch."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as error:
        raise FetchError(FetchReason.INVALID_URL, str(error)) from None
    scheme = parts.scheme.lower()
    allowed = ("http", "https", "file") if settings.allow_file_urls else ("http", "https")
    if scheme not in allowed:
        hint = " (enable download.allow_file_urls)" if scheme == "file" else ""
        raise FetchError(FetchReason.UNSUPPORTED_SCHEME, f"{scheme or 'no'} scheme{hint}")
    if scheme != "file" and not parts.hostname:
        raise FetchError(FetchReason.INVALID_URL, "no host")
    return scheme, (parts.hostname or "").lower()


def fetch_url(url: str, opener, limiter: HostLimiter, settings: DownloadConfig) -> Fetched:
    """Fetch ``url`` with retries and backoff; raises :class:`FetchError`."""
    scheme, host = check_scheme(url, settings)
    if scheme == "file":
        return fetch_file(url, settings)
    deadline = time.monotonic() + settings.deadline
    for attempt in range(settings.retries + 1):
        try:
            with limiter.slot(host):
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
