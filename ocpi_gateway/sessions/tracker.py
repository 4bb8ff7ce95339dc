"""Keeps one Session per charging session, joining OCPI session ids to OCPP transactions.

A session starts from one of three things: a reservation or booking becoming active
(``hold_live``: status RESERVATION), a START_SESSION the charger accepted
(``expect_remote_start`` before the RemoteStart, ``remote_start_accepted`` after its
CommandResult: status PENDING), or a transaction the charger started on its own. A
transaction binds to the session that was waiting for it (the START_SESSION's, by charger and
token; the reservation's, by the OCPP reservation id or the token), which becomes ACTIVE; meter
values add readings; the transaction's end, or the reservation's end unused, completes it.
Every stored change is told to the listeners (the eMSP pushes, the CDRs) with the session as
it was before.

The charger's events arrive here after the reservation service saw them (it subscribed
first), but nothing depends on it: a transaction binds to its reservation's session whether
or not the reservation was marked used yet.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from ocpi_gateway.domain.events import (
    ChargingStateChanged,
    ConnectorStatus,
    ConnectorStatusChanged,
    DomainEvent,
    MeterValueReported,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.domain.keyed_locks import KeyedLocks
from ocpi_gateway.sessions import changes
from ocpi_gateway.sessions.changes import HoldInfo, token_matches
from ocpi_gateway.sessions.models import (
    AuthMethod,
    ChargingState,
    Hold,
    HoldEnd,
    MeterReading,
    Session,
    SessionStatus,
    SessionToken,
)
from ocpi_gateway.sessions.places import Place, Places, cdr_location
from ocpi_gateway.sessions.repository import SessionRepository

log = structlog.get_logger(__name__)

SessionListener = Callable[[Session, Session | None], Awaitable[None]]
"""Called with a session after every stored change, and the session as it was before (None
for a new one)."""

TokenOwners = Callable[[str], Awaitable[list[SessionToken]]]
"""The eMSP tokens a charger may mean by a presented id token (uid or 1.6 digest)."""

REMOTE_START_WINDOW = timedelta(minutes=15)
"""How long after START_SESSION a transaction with its token fulfils it (mod_commands' window
for the token itself)."""

PENDING_TIMEOUT = timedelta(minutes=5)
"""A PENDING session whose transaction never started is declared INVALID after this."""

_CHARGING_16 = {ConnectorStatus.CHARGING: True, ConnectorStatus.SUSPENDED_EVSE: True,
                ConnectorStatus.SUSPENDED_EV: False}
"""A 1.6 connector's status during a transaction → whether the EV asks for energy
(SuspendedEVSE: the charger holds back an EV that asks: charging time)."""

USED_WITHOUT_TRANSACTION = timedelta(minutes=10)
"""A reservation used (token presented, connector released) whose transaction never started
is completed after this, with its reservation time only."""


class SessionTracker:
    def __init__(self, repo: SessionRepository, places: Places, *,
                 token_owners: TokenOwners, clock: Callable[[], datetime],
                 default_currency: str = "EUR") -> None:
        self.repo = repo
        self._places = places
        self._token_owners = token_owners
        self._clock = clock
        self._currency = default_currency
        self._listeners: list[SessionListener] = []
        self._locks = KeyedLocks()

    def add_listener(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    # ------------------------------------------------------------------ queries

    async def get(self, session_id: str) -> Session | None:
        return await self.repo.get(session_id)

    async def active_at(self, charge_point_id: str) -> list[Session]:
        """The sessions of a charger that have a transaction running."""
        return [s for s in await self.repo.open_at(charge_point_id)
                if s.status is SessionStatus.ACTIVE]

    # ------------------------------------------------------------------ START_SESSION

    async def expect_remote_start(self, charge_point_id: str, token: SessionToken, *,
                                  location_id: str, evse_uid: str | None,
                                  connector_id: str | None,
                                  authorization_reference: str | None = None) -> str:
        """Before a RemoteStart: remember who asks, so the transaction that follows is the
        session of this eMSP; the id that session will have. A driver starting on their own
        reservation (reserve, then start from the app) goes on in the reservation's session."""
        session_id = uuid.uuid4().hex
        for waiting in await self.repo.open_at(charge_point_id):
            if waiting.status is SessionStatus.RESERVATION and waiting.token is not None \
                    and token_matches(waiting.token, token.uid) \
                    and (waiting.token.country_code, waiting.token.party_id) == (
                        token.country_code, token.party_id):
                session_id = waiting.id
                break
        tags = (token.uid, ocpp16_id_tag(token.uid))
        await self.repo.put_start(charge_point_id, tags, {
            "session_id": session_id, "token": token.model_dump(mode="json"),
            "authorization_reference": authorization_reference, "location_id": location_id,
            "evse_uid": evse_uid, "connector_id": connector_id, "id_tags": list(tags),
            "until": (self._clock() + REMOTE_START_WINDOW).isoformat()})
        return session_id

    async def remote_start_accepted(self, session_id: str, charge_point_id: str,
                                    token: SessionToken, *, location_id: str,
                                    evse_uid: str | None, connector_id: str | None,
                                    authorization_reference: str | None = None) -> Session | None:
        """After the CommandResult ACCEPTED: the PENDING session, unless its transaction
        started already (then the session exists and is told again)."""
        existing = await self.repo.get(session_id)
        if existing is not None:
            await self._notify(existing, None)
            return existing
        place = self._places.of_evse(location_id, evse_uid)
        if place is None:
            return None
        now = self._clock()
        session = self._new(session_id, place, SessionStatus.PENDING, token,
                            AuthMethod.COMMAND, now, authorization_reference)
        if connector_id is not None:
            session = session.model_copy(update={"connector_id": connector_id})
        session = session.model_copy(update={"charge_point_id": charge_point_id})
        if not await self.repo.insert(session):
            existing = await self.repo.get(session_id)
            if existing is not None:
                await self._notify(existing, None)
            return existing
        log.info("session_pending", session_id=session_id, charge_point_id=charge_point_id)
        await self._notify(session, None)
        return session

    # ------------------------------------------------------------------ reservations

    async def hold_live(self, info: HoldInfo) -> Session | None:
        """A reservation or booking is active (or moved to another EVSE): its session, in
        status RESERVATION, created on the first call."""
        place = self._places.of_evse(info.location_id, info.evse_uid)
        if place is None:
            return None
        existing = await self.repo.by_hold(info.key)
        if existing is not None and not existing.final:
            return await self._update(existing.id, lambda s: changes.moved(s, info, place,
                                                                    self._clock()))
        now = self._clock()
        session = self._new(uuid.uuid4().hex, place, SessionStatus.RESERVATION, info.token,
                            AuthMethod.COMMAND, now, info.authorization_reference)
        session = session.model_copy(update={
            "charge_point_id": info.charge_point_id,
            "hold": Hold(key=info.key, kind=info.kind, start=now, expiry=info.expiry,
                         booking_id=info.booking_id, slot_end=info.slot_end,
                         free_until=None if info.free_cancellation is None
                         else now + info.free_cancellation,
                         charge_point_id=info.charge_point_id,
                         ocpp_reservation_id=info.ocpp_reservation_id)})
        await self.repo.insert(session)
        log.info("session_reserved", session_id=session.id, hold_key=info.key)
        await self._notify(session, None)
        return session

    async def hold_ended(self, hold_key: str, ended: HoldEnd, at: datetime | None = None
                         ) -> Session | None:
        """The reservation or booking ended: used (the session waits for its transaction),
        or unused (expired, cancelled): its session is COMPLETED."""
        session = await self.repo.by_hold(hold_key)
        if session is None:
            return None
        when = at or self._clock()
        return await self._update(session.id, lambda s: changes.hold_end(s, ended, when))

    # ------------------------------------------------------------------ charger events

    async def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, TransactionStarted):
            await self._started(event)
        elif isinstance(event, MeterValueReported):
            await self._metered(event)
        elif isinstance(event, TransactionEnded):
            await self._ended(event)
        elif isinstance(event, ChargingStateChanged):
            found = await self.repo.by_transaction(event.charge_point_id, event.transaction_id)
            await self._charging(found, ChargingState(at=event.timestamp,
                                                      charging=event.charging))
        elif isinstance(event, ConnectorStatusChanged) and event.evse_id is None \
                and event.status in _CHARGING_16:
            found = next((s for s in await self.active_at(event.charge_point_id)
                          if s.ocpp_evse_id is None
                          and s.ocpp_connector_id == event.connector_id), None)
            await self._charging(found, ChargingState(at=event.timestamp,
                                                      charging=_CHARGING_16[event.status]))

    async def _charging(self, session: Session | None, state: ChargingState) -> None:
        if session is not None and session.status is SessionStatus.ACTIVE:
            await self._update(session.id, lambda s: changes.state(s, state))

    async def _started(self, event: TransactionStarted) -> None:
        cp = event.charge_point_id
        if await self.repo.by_transaction(cp, event.transaction_id) is not None:
            return  # 2.0.1 may repeat it
        place = self._places.at_charger(cp, event.evse_id, event.connector_id)
        intent = None
        if event.id_token is not None:
            intent = await self.repo.take_start(cp, event.id_token, self._clock())
        if intent is not None:
            await self._start_commanded(event, intent, place)
            return
        waiting = await self._waiting_hold(event)
        if waiting is not None:
            await self._update(waiting.id, lambda s: changes.bind(s, event, place, self._places))
            return
        if place is None:
            log.warning("session_unknown_place", charge_point_id=cp,
                        evse_id=event.evse_id, connector_id=event.connector_id)
            return
        owners = await self._token_owners(event.id_token) if event.id_token else []
        token = owners[0] if owners else None
        fresh = self._new(uuid.uuid4().hex, place, SessionStatus.ACTIVE, token,
                          AuthMethod.WHITELIST, event.timestamp, None)
        session = changes.bind(fresh, event, place, self._places) or fresh
        await self.repo.insert(session)
        log.info("session_started", session_id=session.id, charge_point_id=cp,
                 transaction_id=event.transaction_id, known_token=token is not None)
        await self._notify(session, None)

    async def _start_commanded(self, event: TransactionStarted, intent: dict[str, Any],
                               place: Place | None) -> None:
        session_id = str(intent["session_id"])
        token = SessionToken.model_validate(intent["token"])
        if await self.repo.get(session_id) is None:
            if place is None:
                place = self._places.of_evse(intent["location_id"], intent.get("evse_uid"))
            if place is None:
                return
            pending = self._new(session_id, place, SessionStatus.PENDING, token,
                                AuthMethod.COMMAND, event.timestamp,
                                intent.get("authorization_reference"))
            bound = changes.bind(pending, event, place, self._places) or pending
            if await self.repo.insert(bound):
                log.info("session_started", session_id=session_id,
                         charge_point_id=event.charge_point_id,
                         transaction_id=event.transaction_id, remote=True)
                await self._notify(await self._must(session_id), None)
                return
        await self._update(session_id, lambda s: changes.bind(s, event, place, self._places))

    async def _waiting_hold(self, event: TransactionStarted) -> Session | None:
        """The reservation session this transaction uses: same charger and OCPP reservation
        id, else the same token."""
        waiting = [s for s in await self.repo.open_at(event.charge_point_id)
                   if s.status is SessionStatus.RESERVATION and s.hold is not None]
        if event.reservation_id is not None:
            for session in waiting:
                if session.hold is not None \
                        and session.hold.ocpp_reservation_id == event.reservation_id:
                    return session
        if event.id_token is not None:
            for session in waiting:
                if token_matches(session.token, event.id_token):
                    return session
        return None

    async def _metered(self, event: MeterValueReported) -> None:
        session = None
        if event.transaction_id is not None:
            session = await self.repo.by_transaction(event.charge_point_id,
                                                     event.transaction_id)
        elif event.connector_id is not None or event.evse_id is not None:
            # A reading without a transaction (1.6 clock-aligned, 2.0.1 MeterValues) belongs
            # to the transaction running on that connector or EVSE.
            for candidate in await self.active_at(event.charge_point_id):
                if (event.evse_id is not None and candidate.ocpp_evse_id == event.evse_id) or (
                        event.evse_id is None and candidate.ocpp_evse_id is None
                        and candidate.ocpp_connector_id == event.connector_id):
                    session = candidate
        if session is None or session.status is not SessionStatus.ACTIVE:
            return
        reading = MeterReading(at=event.timestamp, wh=changes.wh(event.energy_wh))
        await self._update(session.id, lambda s: changes.read(s, reading))

    async def _ended(self, event: TransactionEnded) -> None:
        session = await self.repo.by_transaction(event.charge_point_id, event.transaction_id)
        if session is None:
            log.warning("session_end_unknown_transaction", charge_point_id=event.charge_point_id,
                        transaction_id=event.transaction_id)
            return
        await self._update(session.id, lambda s: changes.finish(s, event))

    # ------------------------------------------------------------------ sweeping

    async def sweep(self) -> int:
        """End what no event will end: PENDING sessions whose transaction never came
        (INVALID), reservations used without a transaction (COMPLETED)."""
        now = self._clock()
        ended = 0
        for session in await self.repo.open_with_status(SessionStatus.PENDING):
            if now - session.created_at >= PENDING_TIMEOUT:
                if await self._update(session.id, lambda s: changes.invalid(s, now)) is not None:
                    ended += 1
        for session in await self.repo.open_with_status(SessionStatus.RESERVATION):
            hold = session.hold
            if hold is not None and hold.ended is HoldEnd.USED and hold.end is not None \
                    and now - hold.end >= USED_WITHOUT_TRANSACTION:
                completed = await self._update(
                    session.id, lambda s: changes.used_unbound(s, now))
                if completed is not None:
                    ended += 1
        return ended

    # ------------------------------------------------------------------ internals

    def _new(self, session_id: str, place: Place, status: SessionStatus,
             token: SessionToken | None, auth: AuthMethod, at: datetime,
             authorization_reference: str | None) -> Session:
        location = place.location
        party = (token.country_code, token.party_id) if token else None
        tariff = self._places.tariff(place, party, at)
        return Session(
            id=session_id, country_code=location.country_code, party_id=location.party_id,
            status=status, token=token, auth_method=auth,
            authorization_reference=authorization_reference, location_id=location.id,
            evse_uid=place.evse_uid, connector_id=place.connector_id,
            time_zone=location.time_zone, cdr_location=cdr_location(place),
            created_at=at, start_date_time=at,
            currency=tariff.currency if tariff else self._currency, tariff=tariff,
            last_updated=self._clock())

    async def _must(self, session_id: str) -> Session:
        session = await self.repo.get(session_id)
        assert session is not None
        return session

    async def _update(self, session_id: str, change: Callable[[Session], Session | None]
                      ) -> Session | None:
        """Apply ``change`` to the stored session (again on a lost compare-and-set) and tell
        the listeners; None when the session is gone or ``change`` leaves it as it is."""
        async with self._locks.lock(session_id):
            for _ in range(5):
                current = await self.repo.get(session_id)
                if current is None:
                    return None
                new = change(current)
                if new is None or new == current:
                    return None
                new = new.model_copy(update={"last_updated": max(self._clock(),
                                                                 current.last_updated)})
                saved = await self.repo.replace(current, new)
                if saved is not None:
                    await self._notify(saved, current)
                    return saved
            log.warning("session_update_lost", session_id=session_id)
            return None

    async def _notify(self, session: Session, previous: Session | None) -> None:
        for listener in self._listeners:
            try:
                await listener(session, previous)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("session_listener_failed", session_id=session.id)

