"""Connections that check where they go and when they must stop. Plain Python, no Beam.

Every connection (the first and each redirect) resolves the host, refuses private,
loopback (unless allowed), link-local, multicast and reserved addresses, then connects
to the address it checked (no DNS rebinding between check and connect). With a
deadline, the socket bounds the connect and every receive, headers and body alike, by
``min(per-read timeout, deadline - now)``: a server that drips a byte just before each
timeout cannot hold a download past its deadline. :mod:`babelshard.pipelines.captions.fetch`
builds its opener from these handlers.
"""
from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import time
import urllib.request


class BlockedAddressError(OSError):
    """Raised inside the connection, before any packet goes to a refused address."""


class DeadlineExceeded(TimeoutError):
    """The image's deadline passed while connecting or waiting for bytes."""


class _DeadlineReads:
    """Socket mixin: each receive waits at most ``min(per_read, deadline - now)``.

    The socket's own timeout bounds one wait; a server that sends a byte just before
    each timeout would otherwise hold the request forever.
    """

    deadline: float | None = None
    per_read: float | None = None
    _waits_for_deadline = False

    def _arm(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded()
        self._waits_for_deadline = self.per_read is None or left <= self.per_read
        self.settimeout(left if self._waits_for_deadline else self.per_read)

    def _receive(self, method, *args, **kwargs):
        self._arm()
        try:
            return method(*args, **kwargs)
        except TimeoutError:
            if self._waits_for_deadline:
                raise DeadlineExceeded() from None
            raise

    def recv(self, *args, **kwargs):
        return self._receive(super().recv, *args, **kwargs)

    def recv_into(self, *args, **kwargs):
        return self._receive(super().recv_into, *args, **kwargs)


class _DeadlineSocket(_DeadlineReads, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineReads, ssl.SSLSocket):
    pass


def address_allowed(ip: str, allow_loopback: bool) -> bool:
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not address.is_multicast


def guarded_create_connection(
    address, timeout=None, source_address=None, *, allow_loopback: bool = False, deadline: float | None = None, **_
):
    """``socket.create_connection`` that checks every resolved address first; with a
    ``deadline`` the socket bounds the connect and every later receive by it."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        if not address_allowed(sockaddr[0], allow_loopback):
            raise BlockedAddressError(f"{host} resolves to {sockaddr[0]}")
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = _DeadlineSocket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeadlineExceeded()
                sock.settimeout(min(left, timeout) if timeout is not None else left)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            sock.deadline, sock.per_read = deadline, timeout
            return sock
        except DeadlineExceeded:
            sock.close()
            raise
        except TimeoutError:
            sock.close()
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded() from None
            raise
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"could not connect to {host}:{port}")


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, allow_loopback: bool = False, deadline: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(
            guarded_create_connection, allow_loopback=allow_loopback, deadline=deadline
        )


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, allow_loopback: bool = False, deadline: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.deadline = deadline
        self._create_connection = functools.partial(
            guarded_create_connection, allow_loopback=allow_loopback, deadline=deadline
        )

    def connect(self) -> None:
        super().connect()  # the TLS socket is a new object: give it the deadline too
        self.sock.deadline, self.sock.per_read = self.deadline, self.timeout


def deadline_of(req) -> float | None:
    return getattr(req, "babelshard_deadline", None)


class GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_loopback: bool):
        super().__init__()
        self.allow_loopback = allow_loopback

    def http_open(self, req):
        factory = functools.partial(_GuardedHTTPConnection, allow_loopback=self.allow_loopback, deadline=deadline_of(req))
        return self.do_open(factory, req)


class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_loopback: bool):
        context = ssl.create_default_context()
        context.sslsocket_class = _DeadlineSSLSocket
        super().__init__(context=context)
        self.allow_loopback = allow_loopback

    def https_open(self, req):
        factory = functools.partial(_GuardedHTTPSConnection, allow_loopback=self.allow_loopback, deadline=deadline_of(req))
        return self.do_open(factory, req, context=self._context)
