"""Opaque page cursors: the store's keyset cursor (values of the order fields and the key) and
the order it belongs to, as URL-safe text, so a client cannot tell or need to tell what is
inside, and a cursor of one order is refused by another (it would skip or repeat rows)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from ocpi_gateway.domain.store import Cursor


class BadCursor(ValueError):
    """Not a cursor this API gave out."""


def encode_cursor(cursor: Cursor | None, order: Sequence[str] = ()) -> str | None:
    if cursor is None:
        return None
    values, key = cursor
    raw = orjson.dumps([list(values), key, list(order)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, order: Sequence[str]) -> Cursor | None:
    """The cursor of ``text`` for a list in ``order``."""
    if not text:
        return None
    try:
        raw: Any = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        values, key, made_for = raw
        if not isinstance(values, list) or len(values) != len(order) \
                or not isinstance(key, str) \
                or not all(isinstance(v, bool | int | float | str) for v in values):
            raise BadCursor("not a cursor of this list")
        if made_for != list(order):
            raise BadCursor("a cursor of another order: ask for the first page again")
    except (binascii.Error, ValueError, TypeError) as exc:
        if isinstance(exc, BadCursor):
            raise
        raise BadCursor("not a cursor of this list") from exc
    return tuple(values), key
