"""What a receiver's answer means for a delivery: done, worth another attempt, or refused."""

from __future__ import annotations

from enum import Enum

import orjson


class Outcome(Enum):
    DONE = "done"
    RETRY = "retry"
    REFUSED = "refused"


UNAUTHORIZED = "HTTP 401"
"""The detail of a 401: the engine reads the partner's headers afresh before the retry."""


def judge(status: int, raw: bytes) -> tuple[Outcome, str]:
    """The outcome of an HTTP answer (``raw``: its body, an OCPI envelope or not)."""
    if status >= 500 or status in (408, 429):
        return Outcome.RETRY, f"HTTP {status}"
    if status == 401:
        # The partner rotated its token (credentials PUT) and our cached headers still
        # carry the old one: retry with headers read afresh rather than lose the push. A
        # partner that unregisters stops its deliveries through headers_for instead.
        return Outcome.RETRY, UNAUTHORIZED
    code = ocpi_status(raw)
    if 200 <= status < 300 and (code is None or 1000 <= code < 2000):
        return Outcome.DONE, f"HTTP {status}"
    if code is not None and code >= 3000:
        return Outcome.RETRY, f"HTTP {status} OCPI {code}"
    return Outcome.REFUSED, f"HTTP {status} OCPI {code}"


def ocpi_status(raw: bytes) -> int | None:
    try:
        parsed = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None
    code = parsed.get("status_code") if isinstance(parsed, dict) else None
    return code if isinstance(code, int) else None
