"""One outbound request as stored in the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

COLLECTION = "outbox"
INSTANCES = "outbox_instances"
"""instance id → when it last said it is alive (epoch seconds)."""


@dataclass(slots=True, kw_only=True)
class Delivery:
    """``ordering_key``: deliveries with the same partner and key go out strictly in ``seq``
    order (the object's URL for Locations). ``coalesce``: a later coalescable delivery with the
    same partner and key replaces this one while it waits. ``resync``: what to do when the
    receiver refuses a PATCH: ``{"kind": ..., ...}`` handed to the registered resync provider,
    which answers the full object to PUT (OCPI's GET-then-PUT)."""

    id: str
    partner_id: str
    method: str
    url: str
    body: Any = None
    ordering_key: str
    seq: int
    coalesce: bool = False
    resync: dict[str, Any] | None = None
    attempts: int = 0
    next_attempt_at: float = 0.0
    expires_at: float | None = None
    dead: bool = False
    last_error: str | None = None
    owner: str | None = None
    """The gateway instance delivering it; another adopts it once that one stops heartbeating."""
    queued_at: float | None = None
    """When it was queued (epoch seconds, the outbox's clock): the admin list's time range.
    None for a row an older release stored, which loads as ever and no time range matches."""
    extra: dict[str, Any] = field(default_factory=dict)
    encoded: bytes | None = field(default=None, repr=False, compare=False)
    """``body`` serialised, in memory only (not stored): what a fan-out serialised once for
    every partner whose body is the same; None until then (a row loaded from the store)."""

    def to_doc(self) -> dict[str, Any]:
        # Shallow on purpose: asdict() deep-copied the body, the costliest step of an enqueue.
        # The store serialises the document at once, so sharing the body is safe.
        return dict(zip(_FIELD_NAMES, _STORED_VALUES(self), strict=True))

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Delivery:
        known = {k: v for k, v in doc.items() if k in _STORED}
        return cls(**known)


_FIELD_NAMES = tuple(name for name in Delivery.__dataclass_fields__ if name != "encoded")
_STORED = frozenset(_FIELD_NAMES)
_STORED_VALUES = attrgetter(*_FIELD_NAMES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Outgoing:
    """One request to queue (``DeliveryEngine.enqueue_many``); the fields as ``enqueue``'s
    arguments say."""

    partner_id: str
    method: str
    url: str
    body: Any = None
    ordering_key: str | None = None
    coalesce: bool = False
    resync: dict[str, Any] | None = None
    expires_at: float | None = None
    headers: dict[str, str] | None = None
