"""A request's fields in every line it logs: request and correlation ids, method, path, and the
partner once authenticated.

They are one object set once per request (``begin``), which ``merge_request_context`` (in the
processors of ``configure_logging``) adds to each event, instead of ``structlog.contextvars``'
one ContextVar per field, set and cleared on every request: that cost ~7 % of the instructions
of a cached Locations GET (docs/decisions.md, "Locations GET, third pass"). Every aiohttp
request runs in a task of its own, started from a copy of its connection's context, so neither
this nor anything a handler binds with ``structlog.contextvars`` outlives the request.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog


class RequestContext:
    """What the lines of one request carry (``partner`` and ``partner_id`` once
    authenticated)."""

    __slots__ = ("correlation_id", "method", "partner", "path", "request_id")

    def __init__(self, request_id: str, correlation_id: str, method: str, path: str) -> None:
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.method = method
        self.path = path
        self.partner: tuple[str, str] | None = None
        """(name, id) of the partner authenticated."""

    def fields(self) -> dict[str, str]:
        fields = {"request_id": self.request_id, "correlation_id": self.correlation_id,
                  "method": self.method, "path": self.path}
        if self.partner is not None:
            fields["partner"], fields["partner_id"] = self.partner
        return fields


_CURRENT: ContextVar[RequestContext | None] = ContextVar("ocpi_request_context", default=None)


def begin(request_id: str, correlation_id: str, method: str, path: str) -> RequestContext:
    """The present request's context (its task's: requests do not share one)."""
    context = RequestContext(request_id, correlation_id, method, path)
    _CURRENT.set(context)
    return context


def merge_request_context(logger: Any, method_name: str,
                          event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the request's fields, under what the event names itself (as
    ``structlog.contextvars.merge_contextvars`` does)."""
    context = _CURRENT.get()
    if context is not None:
        for key, value in context.fields().items():
            event_dict.setdefault(key, value)
    return event_dict


def log_context() -> dict[str, Any]:
    """What a line logged here now would carry from its context: the request's fields, then
    what was bound with ``structlog.contextvars``."""
    context = _CURRENT.get()
    merged: dict[str, Any] = {} if context is None else context.fields()
    for key, value in structlog.contextvars.get_contextvars().items():
        merged.setdefault(key, value)
    return merged
