""""Reserved until HH:MM" on the charger's own display while it is reserved.

A driver otherwise learns that a charger is reserved only after plugging in. A 2.0.1 charger
with a DisplayMessageCtrlr whose ``chargers.yaml`` entry says ``display.reserved: true`` gets
a SetDisplayMessage when a reservation (or a bound booking) becomes active on it, again when
its end moves, and a ClearDisplayMessage when it ends or moves to another charger.

The message id is the OCPP reservation id (unique per charger), and the message carries the
reservation's end as its ``endDateTime``: a clear that never arrives (the charger offline at
the time, a crash) leaves nothing behind past the reservation. What was shown where is kept in
the DocumentStore (``display_messages``, by the holder's key), so whichever instance sees the
end clears what another one showed. The caller (the gateway's wiring) says what is reserved;
this module knows chargers, not OCPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

import structlog

from ocpi_gateway.domain.charger_commands import (
    ChargerCommands,
    ClearDisplayMessage,
    CommandOutcome,
    SetDisplayMessage,
)
from ocpi_gateway.domain.keyed_locks import KeyedLocks
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.domain.tasks import cancel_all
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig

log = structlog.get_logger(__name__)

COLLECTION = "display_messages"


@dataclass(frozen=True, slots=True)
class Shown:
    charge_point_id: str
    message_id: int
    until: datetime


def reserved_text(template: str, until: datetime, tz: tzinfo) -> str:
    return template.format(until=until.astimezone(tz).strftime("%H:%M"))


class ReservedDisplay:
    def __init__(self, chargers: Callable[[], ChargersConfig], commands: ChargerCommands,
                 store: DocumentStore, *, timeout: float = 30.0) -> None:
        self._chargers = chargers
        self._commands = commands
        self._store = store
        self._timeout = timeout
        self._locks = KeyedLocks()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the wiring calls ---------------------------------------------------------------

    async def reserved(self, key: str, *, charge_point_id: str, evse_id: int | None,
                       message_id: int, until: datetime, tz: tzinfo) -> CommandOutcome | None:
        """``key`` (a reservation or booking) is active on the charger until ``until``: show
        it there (replacing what ``key`` showed elsewhere). None when the charger shows
        nothing (not configured for it)."""
        async with self._locks.lock(key):
            previous = await self._get(key)
            if previous is not None and (previous.charge_point_id, previous.message_id) != (
                    charge_point_id, message_id):
                await self._clear(key, previous)
            charger = self._chargers().get(charge_point_id)
            if charger is None or not charger.display.reserved:
                return None
            text = reserved_text(charger.display.text, until, tz)
            outcome = await self._commands.execute(SetDisplayMessage(
                charge_point_id=charge_point_id, message_id=message_id, text=text,
                ends_at=until, evse_id=evse_id, language=charger.display.language),
                self._timeout)
            log.info("display_reserved_sent", key=key, charge_point_id=charge_point_id,
                     message_id=message_id, text=text, outcome=outcome.value)
            if outcome is CommandOutcome.ACCEPTED:
                await self._store.put(COLLECTION, key, {
                    "id": key, "charge_point_id": charge_point_id, "message_id": message_id,
                    "until": until.isoformat()})
            return outcome

    async def released(self, key: str) -> CommandOutcome | None:
        """``key`` ended (used, expired, cancelled, no-show...): clear what it showed. None
        when it showed nothing."""
        async with self._locks.lock(key):
            previous = await self._get(key)
            if previous is None:
                return None
            return await self._clear(key, previous)

    def in_background(self, work: Awaitable[object]) -> None:
        """Run ``work`` without holding up the caller (a reservation's answer must not wait
        for a display); failures are logged."""
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("display_update_failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Tests: wait for the updates in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await cancel_all(self._tasks, name="display-update")

    # -- inside ---------------------------------------------------------------------------

    async def _get(self, key: str) -> Shown | None:
        doc = await self._store.get(COLLECTION, key)
        if doc is None:
            return None
        return Shown(str(doc["charge_point_id"]), int(doc["message_id"]),
                     datetime.fromisoformat(str(doc["until"])))

    async def _clear(self, key: str, shown: Shown) -> CommandOutcome:
        outcome = await self._commands.execute(ClearDisplayMessage(
            charge_point_id=shown.charge_point_id, message_id=shown.message_id), self._timeout)
        log.info("display_reserved_cleared", key=key, charge_point_id=shown.charge_point_id,
                 message_id=shown.message_id, outcome=outcome.value)
        # Offline or silent: the message goes at its end time anyway; nothing to retry.
        await self._store.delete(COLLECTION, key)
        return outcome
