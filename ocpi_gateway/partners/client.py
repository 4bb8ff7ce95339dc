"""The outbound OCPI client used by the credentials handshake.

One small class so the HTTP library is an implementation detail: it is aiohttp today (see
docs/decisions.md); swapping it touches only this file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from ocpi_gateway.transport.auth import authorization_header


class OcpiClientError(Exception):
    """The partner could not be reached or did not answer with JSON."""


@dataclass(frozen=True, slots=True)
class OcpiReply:
    http_status: int
    body: Any

    @property
    def status_code(self) -> int | None:
        code = self.body.get("status_code") if isinstance(self.body, dict) else None
        return code if isinstance(code, int) else None

    @property
    def data(self) -> Any:
        return self.body.get("data") if isinstance(self.body, dict) else None

    @property
    def ok(self) -> bool:
        return 200 <= self.http_status < 300 and self.status_code == 1000


class OcpiClient:
    def __init__(self, *, timeout: float = 10.0, session: aiohttp.ClientSession | None = None,
                 ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        token: str,
        *,
        base64_token: bool = True,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> OcpiReply:
        all_headers = {
            "Authorization": authorization_header(token, base64_encoded=base64_token),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": str(uuid.uuid4()),
            **(headers or {}),
        }
        body = None
        if json is not None:
            body = orjson.dumps(json)
            all_headers["Content-Type"] = "application/json"
        try:
            async with self._client().request(
                method, url, data=body, headers=all_headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OcpiClientError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError as exc:
            raise OcpiClientError(f"{method} {url}: HTTP {status}, not JSON") from exc
        return OcpiReply(status, parsed)

    async def get(self, url: str, token: str, *, base64_token: bool = True) -> OcpiReply:
        return await self.request("GET", url, token, base64_token=base64_token)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
