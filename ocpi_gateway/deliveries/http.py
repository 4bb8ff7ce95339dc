"""The outbox's HTTP/1.1 client: kept-alive connections per receiver origin, each request
written as one buffer of prepared bytes, each answer parsed to its status and body.

Why not aiohttp's ClientSession, which the rest of the gateway uses: a fan-out sends one small
request to each of many partners, and the session's machinery per request (a ClientRequest,
header multidicts, a payload object, a timer context, a response object with its stream) cost
about four times the CPU of this client for the same PATCH (docs/decisions.md, "Status fan-out
to 100 partners"). It does only what a delivery needs: one request at a time on a connection;
bodies sent with Content-Length; answers with Content-Length, chunked or ended by the close;
redirects never followed (a 3xx is an answer like any other); no proxy, no cookies, no
compression asked for. ``https`` URLs are verified against the system's trust store (or the
context given).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

from ocpi_gateway import __version__

LIMIT_PER_HOST = 32
"""Connections to one receiver origin at most, from all partners behind it together (a hub,
one platform's tenants): its own limits are not ours to find out by overrunning them."""
KEEPALIVE = 15.0
"""Seconds an idle connection is reused; older ones are closed, as receivers close theirs
(aiohttp's default too)."""
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
"""Bytes: an answer larger than this is a failed attempt (a Location GET of a resync, with
thousands of EVSEs, stays far below)."""

_USER_AGENT = f"User-Agent: ocpi-gateway/{__version__}\r\n".encode("ascii")
"""Some receivers' firewalls turn away a request that names no client."""
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PATH_SAFE = "/:@!$&'()*+,;=%?~-._"


class HttpError(Exception):
    """The exchange failed beneath HTTP's meaning: the connection was closed before the whole
    answer, or the answer was malformed or too large."""


@dataclass(frozen=True, slots=True)
class Target:
    origin: tuple[str, str, int]
    """(scheme, host, port): what a connection is kept for."""
    path: bytes
    host: bytes
    """The Host header's value."""


@lru_cache(maxsize=16384)
def target(url: str) -> Target:
    """Parsed once per URL (a delivery's URL is one of a few per partner and object)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HttpError(f"not a URL: {url!r}") from exc
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in ("http", "https") or not host:
        raise HttpError(f"not an http(s) URL: {url!r}")
    default = 443 if scheme == "https" else 80
    name = f"[{host}]" if ":" in host else host
    host_header = name if port in (None, default) else f"{name}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_PATH_SAFE)
    return Target((scheme, host, port or default), path.encode("ascii"),
                  host_header.encode("idna"))


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """Header lines, each ending in CRLF. A name that is not an HTTP token or a value with a
    line break is refused: nothing a partner registered can add a header or a request."""
    lines = []
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"header not sendable: {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


class _Connection(asyncio.Protocol):
    """One connection; ``exchange`` sends a request and answers (status, body)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.received = False
        """Some of the current answer arrived (a kept-alive connection that failed before
        that was most likely closed by the receiver as we sent: worth one new connection)."""
        self.reusable = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._head_only = False
        self._status: int | None = None
        self._body = bytearray()
        self._mode = ""
        """After the head: "length", "chunked", "close" (body until the connection ends)."""
        self._left = 0
        """Body bytes still to come ("length"), or of the current chunk ("chunked")."""
        self._trailer = False
        self._data_ended = False
        self._keep = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def exchange(self, request: bytes, *, head_only: bool) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        if self.closed:
            raise HttpError("connection closed")
        self.received = self.reusable = False
        self._head_only, self._status, self._body = head_only, None, bytearray()
        self._mode, self._left, self._trailer, self._data_ended = "", 0, False, False
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def data_received(self, data: bytes) -> None:
        answer = self._answer
        if answer is None or answer.done():
            # Bytes nobody asked for: whatever this receiver does, the connection is not to
            # be trusted with another request.
            self.close()
            return
        self.received = True
        self._buffer += data
        try:
            finished = self._parse()
        except (HttpError, ValueError) as exc:
            self._fail(exc if isinstance(exc, HttpError) else HttpError(f"bad answer: {exc}"))
            return
        if finished:
            assert self._status is not None
            self.reusable = self._keep and not self._buffer
            answer.set_result((self._status, bytes(self._body)))

    def eof_received(self) -> bool:
        answer = self._answer
        if answer is not None and not answer.done() and self._mode == "close":
            assert self._status is not None
            answer.set_result((self._status, bytes(self._body)))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(HttpError(f"connection closed before the whole answer: {exc!r}"
                             if exc else "connection closed before the whole answer"))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: HttpError) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        self.close()

    def _parse(self) -> bool:
        """True once the whole answer is in."""
        buffer = self._buffer
        while self._status is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise HttpError("answer head too large")
                return False
            head = bytes(buffer[:end])
            del buffer[:end + 4]
            self._head(head)
        if self._mode == "length":
            return self._take(min(self._left, len(buffer))) == 0
        if self._mode == "chunked":
            return self._chunks()
        if self._mode == "close":
            self._take(len(buffer))
        return self._mode == ""

    def _head(self, head: bytes) -> None:
        end = head.find(b"\r\n")
        first = head if end < 0 else head[:end]
        version, _, rest = first.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise HttpError(f"not an HTTP/1 answer: {first[:80]!r}")
        status = int(code)
        # Only three headers matter here: found in the lowered head rather than by splitting
        # every line (a receiver's Date, Server, Content-Type are not read).
        fields = head.lower()
        length: int | None = None
        for value in _values(fields, b"\r\ncontent-length:"):
            if not value.isdigit() or (length is not None and int(value) != length):
                raise HttpError("bad Content-Length")
            length = int(value)
        codings = b",".join(_values(fields, b"\r\ntransfer-encoding:"))
        chunked = codings.rsplit(b",", 1)[-1].strip() == b"chunked"
        tokens = {t.strip() for v in _values(fields, b"\r\nconnection:") for t in v.split(b",")}
        close, keep_alive = b"close" in tokens, b"keep-alive" in tokens
        if 100 <= status < 200:
            if status == 101:
                raise HttpError("unexpected protocol switch")
            return  # informational (100 Continue): the real answer follows
        self._status = status
        self._keep = not close and (version == b"HTTP/1.1" or keep_alive)
        if self._head_only or status in (204, 304):
            self._mode = ""
        elif chunked:
            self._mode = "chunked"
        elif length is not None:
            if length > MAX_BODY:
                raise HttpError("answer too large")
            self._mode, self._left = ("length", length) if length else ("", 0)
        else:
            self._mode, self._keep = "close", False

    def _take(self, count: int) -> int:
        """Moves ``count`` buffered bytes to the body; the bytes still expected."""
        if len(self._body) + count > MAX_BODY:
            raise HttpError("answer too large")
        self._body += self._buffer[:count]
        del self._buffer[:count]
        self._left -= count
        return self._left

    def _chunks(self) -> bool:
        buffer = self._buffer
        while True:
            if self._left > 0:
                if self._take(min(self._left, len(buffer))) > 0:
                    return False
                self._data_ended = True
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise HttpError("chunk line too long")
                return False
            line = bytes(buffer[:end])
            del buffer[:end + 2]
            if self._data_ended:
                # The CRLF that ends a chunk's data.
                self._data_ended = False
                if line:
                    raise HttpError("chunk longer than its size")
            elif self._trailer:
                if not line:
                    return True
            else:
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size < 0:
                    raise HttpError("bad chunk size")
                self._trailer, self._left = size == 0, size


def _values(fields: bytes, name: bytes) -> list[bytes]:
    """The values of every header ``name`` (``b"\\r\\nname:"``, lowercase) in ``fields``."""
    values = []
    at = fields.find(name)
    while at >= 0:
        start = at + len(name)
        end = fields.find(b"\r\n", start)
        values.append(fields[start:end if end >= 0 else len(fields)].strip())
        at = fields.find(name, start)
    return values


class _Pool:
    """The kept-alive connections to one origin."""

    def __init__(self, limit: int) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.idle: list[_Connection] = []

    def take(self, now: float, keepalive: float) -> _Connection | None:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed and now - connection.idle_since < keepalive:
                return connection
            connection.close()
        return None


class HttpClient:
    def __init__(self, *, limit_per_host: int = LIMIT_PER_HOST, keepalive: float = KEEPALIVE,
                 ssl_context: ssl.SSLContext | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """``monotonic`` times only how long a connection has been idle."""
        self._limit = limit_per_host
        self._keepalive = keepalive
        self._ssl = ssl_context
        self._monotonic = monotonic
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._open: set[_Connection] = set()

    def connections(self) -> int:
        """Connections open now (in use or idle)."""
        self._open = {c for c in self._open if not c.closed}
        return len(self._open)

    async def request(self, method: str, url: str, headers: bytes, body: bytes | None,
                      wait: float) -> tuple[int, bytes]:
        """(status, body) of the answer. ``headers``: lines from ``encode_headers``. Raises
        HttpError, OSError (connection refused, TLS), TimeoutError."""
        where = target(url)
        request = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s%s" % (
            method.encode("ascii"), where.path, where.host, _USER_AGENT, headers)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            request += b"Content-Length: %d\r\n\r\n%s" % (len(body or b""), body or b"")
        else:
            request += b"\r\n"
        pool = self._pools.get(where.origin)
        if pool is None:
            pool = self._pools[where.origin] = _Pool(self._limit)
        async with asyncio.timeout(wait), pool.slots:
            while True:
                connection = pool.take(self._monotonic(), self._keepalive)
                reused = connection is not None
                if connection is None:
                    connection = await self._connect(where.origin)
                try:
                    answer = await connection.exchange(request, head_only=method == "HEAD")
                except HttpError:
                    if reused and not connection.received:
                        continue
                    raise
                except BaseException:
                    connection.close()  # timed out or cancelled mid-answer
                    raise
                if connection.reusable:
                    connection.idle_since = self._monotonic()
                    pool.idle.append(connection)
                else:
                    connection.close()
                return answer

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            context = self._ssl or _default_context()
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection, host, port, ssl=context,
            server_hostname=host if context is not None else None)
        self._open.add(connection)
        return connection

    async def close(self) -> None:
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._pools.clear()


@lru_cache(maxsize=1)
def _default_context() -> ssl.SSLContext:
    return ssl.create_default_context()
