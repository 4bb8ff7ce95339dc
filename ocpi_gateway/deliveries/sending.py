"""One attempt of a delivery: the request sent through aiohttp's client (OCPI's request and
correlation ids added), the answer judged.

The outbox's own session is set for many small requests to many receivers: at most 32
connections per host (a hub's tenants share it), kept alive, no Accept-Encoding asked for and
nothing decompressed (answers are small envelopes), one ClientTimeout per distinct timeout."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import aiohttp

from ocpi_gateway.deliveries.answers import Outcome, judge
from ocpi_gateway.transport.request_ids import fresh_id

LIMIT_PER_HOST = 32
KEEPALIVE = 15.0
"""Seconds an idle connection is kept for the next delivery."""


@lru_cache(maxsize=256)
def _timeout(total: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total)


def outbox_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=LIMIT_PER_HOST,
                                     keepalive_timeout=KEEPALIVE)
    return aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                 skip_auto_headers=("Accept-Encoding",))


class Sender:
    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        """``session``: the caller's, left open by ``close``; else the outbox's own."""
        self._own = session is None
        self.session = session if session is not None else outbox_session()

    async def send(self, method: str, url: str, data: bytes | None,
                   headers: Mapping[str, str], wait: float) -> tuple[Outcome, str]:
        # transport_and_format: every request carries a unique X-Request-ID and a correlation id.
        send_headers = {**headers, "X-Request-ID": fresh_id(), "X-Correlation-ID": fresh_id()}
        if data:
            send_headers["Content-Type"] = "application/json"
        try:
            # No redirects: a receiver must not send our token, or a response_url's POST,
            # to a host nobody checked (docs/security.md, "Where results go").
            async with self.session.request(method, url, data=data, headers=send_headers,
                                            timeout=_timeout(wait),
                                            allow_redirects=False) as response:
                raw = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Outcome.RETRY, f"{type(exc).__name__}: {exc}"
        return judge(status, raw)

    async def close(self) -> None:
        """Closes the outbox's own session (a session given to it stays open)."""
        if self._own:
            await self.session.close()
