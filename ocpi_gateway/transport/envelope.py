"""The OCPI response envelope and the exception that turns into one."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from ocpi_gateway.transport.status_codes import OcpiStatus


def ocpi_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with a Z, as OCPI's DateTime type requires."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_second: tuple[int, str] = (-1, "")


def now_timestamp() -> str:
    """``ocpi_timestamp()`` of the present moment, formatting the date part once a second:
    every response envelope carries one, and strftime is a measurable part of a request."""
    global _second
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return ocpi_timestamp(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default)


def envelope(
    data: Any = None,
    status_code: int = OcpiStatus.SUCCESS,
    status_message: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": int(status_code), "timestamp": now_timestamp()}
    if data is not None:
        body["data"] = data
    if status_message:
        body["status_message"] = status_message
    return body


def ocpi_response(
    data: Any = None,
    status_code: int = OcpiStatus.SUCCESS,
    status_message: str | None = None,
    *,
    http_status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        body=dumps(envelope(data, status_code, status_message)),
        status=http_status,
        content_type="application/json",
        headers=headers,
    )


class OcpiError(Exception):
    """Raised by handlers; the transport middleware answers it with an OCPI envelope."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        http_status: int = 200,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status
        self.data = data

    def to_response(self) -> web.Response:
        return ocpi_response(self.data, self.status_code, self.message,
                             http_status=self.http_status)
