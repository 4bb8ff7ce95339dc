"""One attempt of a delivery: the request sent (OCPI's request and correlation ids added), the
answer judged. Through the outbox's own HTTP client (``http.py``), or through an aiohttp
session when the engine was given one."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import aiohttp

from ocpi_gateway.deliveries.answers import Outcome, judge
from ocpi_gateway.deliveries.http import HttpClient, HttpError, encode_headers
from ocpi_gateway.transport.request_ids import fresh_id

_JSON = b"Content-Type: application/json\r\n"


@lru_cache(maxsize=4096)
def _header_lines(headers: tuple[tuple[str, str], ...]) -> bytes:
    """A partner's headers (its Authorization, a location's routing headers) encoded once:
    every push of a fan-out carries the same few sets."""
    return encode_headers(dict(headers))


class Sender:
    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self.session = session
        self.client = HttpClient() if session is None else None

    async def send(self, method: str, url: str, data: bytes | None,
                   headers: Mapping[str, str], wait: float) -> tuple[Outcome, str]:
        # No redirects: a receiver must not send our token, or a response_url's POST, to a
        # host nobody checked (docs/security.md, "Where results go").
        try:
            if self.client is not None:
                # transport_and_format: every request carries a unique X-Request-ID and a
                # correlation id.
                lines = b"%sX-Request-ID: %s\r\nX-Correlation-ID: %s\r\n%s" % (
                    _header_lines(tuple(headers.items())), fresh_id().encode(),
                    fresh_id().encode(), _JSON if data else b"")
                status, raw = await self.client.request(method, url, lines, data, wait)
            else:
                status, raw = await self._through_session(method, url, data, headers, wait)
        except (TimeoutError, aiohttp.ClientError, HttpError, OSError) as exc:
            return Outcome.RETRY, f"{type(exc).__name__}: {exc}"
        except ValueError as exc:  # a header that cannot be sent: no attempt can succeed
            return Outcome.REFUSED, f"{type(exc).__name__}: {exc}"
        return judge(status, raw)

    async def _through_session(self, method: str, url: str, data: bytes | None,
                               headers: Mapping[str, str], wait: float) -> tuple[int, bytes]:
        assert self.session is not None
        send_headers = {**headers, "X-Request-ID": fresh_id(), "X-Correlation-ID": fresh_id()}
        if data:
            send_headers["Content-Type"] = "application/json"
        async with self.session.request(
            method, url, data=data, headers=send_headers,
            timeout=aiohttp.ClientTimeout(total=wait), allow_redirects=False,
        ) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        """Closes the outbox's own connections (a session given to it stays open)."""
        if self.client is not None:
            await self.client.close()
