"""The audit log: every action taken through the admin API (and every login), with who did
it, kept in the store (``admin_audit``) and logged (``admin_audit``, at WARNING for a refusal).

Reads are not recorded: they change nothing, and a console refreshing every few seconds would
bury the actions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from pydantic import BaseModel

from ocpi_gateway.domain.store import DocumentStore, Range

log = structlog.get_logger(__name__)

COLLECTION = "admin_audit"


class AuditEntry(BaseModel):
    id: str
    at: float
    """Epoch seconds."""
    operator: str
    """The operator's name; ``admin_token`` for the legacy token; the name tried at a failed
    login."""
    role: str | None
    via: str
    """``session``, ``token``, ``admin_token``, or ``login``."""
    action: str
    target: dict[str, str]
    details: dict[str, Any]
    outcome: str
    """``ok``, or why it was refused / what failed."""
    remote: str | None


class AuditLog:
    def __init__(self, store: DocumentStore, *, clock: Callable[[], float] = time.time,
                 log_lines: bool = True) -> None:
        """``log_lines`` off: stored only (the CLI, whose acts log their own lines and whose
        stderr is its answer)."""
        self._store = store
        self._clock = clock
        self._log_lines = log_lines

    async def record(self, *, operator: str, role: str | None, via: str, action: str,
                     target: dict[str, str] | None = None,
                     details: dict[str, Any] | None = None, outcome: str = "ok",
                     remote: str | None = None) -> AuditEntry:
        entry = AuditEntry(id=uuid.uuid4().hex, at=self._clock(), operator=operator,
                           role=role, via=via, action=action, target=target or {},
                           details=details or {}, outcome=outcome, remote=remote)
        await self._store.put(COLLECTION, entry.id, entry.model_dump(mode="json"))
        if self._log_lines:
            (log.info if outcome in ("ok", "started") else log.warning)(
                "admin_audit", operator=operator, role=role, via=via, action=action,
                target=entry.target, outcome=outcome, remote=remote)
        return entry

    async def finish(self, entry: AuditEntry, outcome: str) -> AuditEntry:
        """How an action recorded as started ended."""
        done = entry.model_copy(update={"outcome": outcome})
        await self._store.put(COLLECTION, done.id, done.model_dump(mode="json"))
        if self._log_lines:
            (log.info if outcome == "ok" else log.warning)(
                "admin_audit", operator=done.operator, role=done.role, via=done.via,
                action=done.action, target=done.target, outcome=outcome, remote=done.remote)
        return done

    async def entries(self, *, since: float | None = None, until: float | None = None,
                      operator: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The most recent first."""
        where: dict[str, Any] = {}
        if since is not None or until is not None:
            where["at"] = Range(gte=since, lt=until)
        if operator is not None:
            where["operator"] = operator
        docs = await self._store.find(COLLECTION, where, order_by="-at", limit=limit)
        return [AuditEntry.model_validate(d) for d in docs]
