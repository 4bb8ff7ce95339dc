"""OCPI's DateTime type (types.asciidoc): RFC 3339 in UTC; a value without a zone is UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

from ocpi_gateway.transport.envelope import ocpi_timestamp


def as_utc(value: datetime) -> datetime:
    """A naive value is UTC (not the host's local time, which astimezone() would assume)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:  # pydantic turns ValueErrors, not others, into 2001
        raise ValueError("out of range once converted to UTC") from exc


OcpiDateTime = Annotated[datetime, AfterValidator(as_utc),
                         PlainSerializer(ocpi_timestamp, return_type=str, when_used="json")]
"""A DateTime field: read in any offset, held and written in UTC with a Z."""
