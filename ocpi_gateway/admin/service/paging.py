"""Opaque page cursors: the store's keyset cursor (values of the order fields and the key) as
URL-safe text, so a client cannot tell or need to tell what is inside."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from ocpi_gateway.domain.store import Cursor


class BadCursor(ValueError):
    """Not a cursor this API gave out."""


def encode_cursor(cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    values, key = cursor
    return base64.urlsafe_b64encode(orjson.dumps([list(values), key])).decode().rstrip("=")


def decode_cursor(text: str | None, fields: int) -> Cursor | None:
    if not text:
        return None
    try:
        raw: Any = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        values, key = raw
        if not isinstance(values, list) or len(values) != fields or not isinstance(key, str) \
                or not all(isinstance(v, bool | int | float | str) for v in values):
            raise BadCursor("not a cursor of this list")
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursor("not a cursor of this list") from exc
    return tuple(values), key
