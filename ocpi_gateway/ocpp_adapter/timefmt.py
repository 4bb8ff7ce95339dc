"""Timestamps we put in OCPP messages.

The ``ocpp`` package's schema validation ignores ``format: date-time``, so nothing would catch
a naive or offset-less timestamp of ours: every one goes through :func:`rfc3339`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with millisecond precision and a Z; a naive datetime is taken as UTC."""
    value = moment or datetime.now(UTC)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str | None) -> datetime:
    """A charger's timestamp, or now when absent or unreadable (chargers' clocks drift anyway)."""
    if text:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)
