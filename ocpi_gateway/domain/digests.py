"""One digest of a JSON value whatever the order of its keys: what the Locations and Tariffs
publishers store to tell a changed configuration from an unchanged one, and what the outbox
keeps of each field a receiver was sent (``deliveries.partial``)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def json_digest(value: Any) -> str:
    """SHA-256 (hex) of ``value`` serialized with sorted keys; raises orjson's TypeError for
    what JSON cannot hold."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
