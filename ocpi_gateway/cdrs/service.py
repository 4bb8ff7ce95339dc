"""Makes the CDRs: listens to every session change and, once a session is finished, bills it
as ``charges`` says (the CDR stored once under the session's id, then POSTed, then the session
marked billed); tells the listeners of unused reservations (expired, cancelled, ended by the
CPO) whether and how they were billed; and credits a reservation CDR when the CPO's side turns
out to have been at fault (the charger reports, late, a fault or a removal within the
reservation's time).

A crash between a session's end and its billing loses nothing: a sweep bills the finished
sessions not marked billed a minute after their end, POSTing their CDR again (the eMSP may
get it twice, with the same id) and telling the listeners again (they are told at least
once: enforcement counts a hold key once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from ocpi_gateway import metrics
from ocpi_gateway.cdrs.builder import CREDIT_SUFFIX, credit_of, session_cdr
from ocpi_gateway.cdrs.charges import cancelled_free, cdr_due
from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.cdrs.publisher import CdrsPublisher
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    DomainEvent,
    ReservationEnded,
    ReservationEndReason,
)
from ocpi_gateway.sessions.models import HoldEnd, HoldKind, Session, SessionToken
from ocpi_gateway.sessions.repository import SessionRepository

log = structlog.get_logger(__name__)

_FAULTS = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})
_FEES: dict[HoldEnd | None, metrics.FeeKind] = {
    HoldEnd.EXPIRED: metrics.FeeKind.NO_SHOW, HoldEnd.CANCELLED: metrics.FeeKind.CANCELLATION}
"""What a reservation fee is for, by how the reservation ended (used: its time)."""

BILLING_GRACE = timedelta(minutes=1)
"""How long after its end a session not marked billed is left to its listener (at work now,
maybe) before the sweep bills it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnusedHold:
    """A reservation or booking ended without a charging session: what enforcement (no-show
    strikes, fees) needs to know."""

    hold_key: str
    kind: HoldKind
    booking_id: str | None
    token: SessionToken
    location_id: str
    evse_uid: str
    ended: HoldEnd
    """EXPIRED (a no-show), CANCELLED (by the eMSP), CPO_CANCELLED, or USED (the token at the
    charger, no transaction followed)."""
    start: datetime
    end: datetime
    free_cancellation: bool
    """Cancelled within its free window."""
    cdr: Cdr | None
    """The CDR billing it, when one was made."""


UnusedListener = Callable[[UnusedHold], Awaitable[None]]

Places = Callable[[str, int | None, int | None], tuple[str, str] | None]
"""(charge point, OCPP EVSE, connector) → (location, EVSE uid) as the catalog maps them."""


class CdrService:
    def __init__(self, repo: CdrRepository, publisher: CdrsPublisher, *,
                 clock: Callable[[], datetime], evse_at: Places,
                 sessions: SessionRepository | None = None) -> None:
        self.repo = repo
        self._publisher = publisher
        self._clock = clock
        self._evse_at = evse_at
        self._sessions = sessions
        self._unused: list[UnusedListener] = []

    def add_unused_listener(self, listener: UnusedListener) -> None:
        self._unused.append(listener)

    # ------------------------------------------------------------------ making

    async def on_session(self, session: Session, previous: Session | None) -> None:
        """A ``SessionListener``."""
        if not session.final or (previous is not None and previous.final):
            return
        await self._bill(session, again=False)

    async def sweep(self) -> int:
        """Bill the finished sessions a crash left unbilled; how many."""
        if self._sessions is None:
            return 0
        billed = 0
        now = self._clock()
        for session in await self._sessions.unbilled():
            if now - session.last_updated < BILLING_GRACE:
                break  # the oldest first: the rest are younger still
            log.warning("session_billed_late", session_id=session.id)
            await self._bill(session, again=True)
            billed += 1
        return billed

    async def _bill(self, session: Session, *, again: bool) -> None:
        kind = cdr_due(session)
        cdr = None
        if kind is not None:
            cdr = session_cdr(session, kind, now=self._clock())
            if kind is CdrKind.RESERVATION and cdr.total_reservation_cost is None:
                cdr = None  # the tariff prices no reservation: nothing to bill
        if cdr is not None:
            await self._issue(cdr, again=again)
        if session.transaction_id is None and session.hold is not None \
                and session.hold.ended is not None and session.token is not None:
            await self._tell_unused(session, cdr)
        if self._sessions is not None:
            await self._sessions.mark_billed(session.id)

    async def _issue(self, cdr: Cdr, *, again: bool = False) -> bool:
        """Store ``cdr`` and queue it; ``again``: a CDR stored already is queued again (as
        stored: a CDR never changes)."""
        if not await self.repo.insert(cdr):
            stored = await self.repo.get(cdr.id) if again else None
            if stored is None:
                return False  # made already (another instance saw the same end)
            cdr = stored
        sent = await self._publisher.send(cdr)
        metrics.cdr_issued(cdr.kind.value, credit=cdr.credit)
        self._count_fee(cdr)
        log.info("cdr_issued", cdr_id=cdr.id, kind=cdr.kind.value, credit=cdr.credit,
                 session_id=cdr.session_id, hold_key=cdr.hold_key,
                 emsp=cdr.emsp_key, total_before_taxes=str(cdr.total_cost.before_taxes),
                 currency=cdr.currency, pushed=sent)
        return True

    @staticmethod
    def _count_fee(cdr: Cdr) -> None:
        """A CDR that charges a reservation or booking: what for, logged and counted (a
        credit CDR is no fee)."""
        cost = cdr.total_reservation_cost
        if cdr.credit or cost is None or cost.before_taxes <= 0:
            return
        kind = _FEES.get(cdr.hold_end, metrics.FeeKind.RESERVATION)
        metrics.reservation_fee(kind, float(cost.before_taxes), cdr.currency)
        log.info("reservation_fee_charged", fee=kind.value, cdr_id=cdr.id,
                 hold_key=cdr.hold_key, booking_id=cdr.booking_id, emsp=cdr.emsp_key,
                 token_uid=cdr.token.uid, location_id=cdr.location.id,
                 amount_before_taxes=str(cost.before_taxes), currency=cdr.currency)

    async def _tell_unused(self, session: Session, cdr: Cdr | None) -> None:
        hold = session.hold
        assert hold is not None and hold.ended is not None and session.token is not None
        event = UnusedHold(
            hold_key=hold.key, kind=hold.kind, booking_id=hold.booking_id,
            token=session.token, location_id=session.location_id,
            evse_uid=session.evse_uid, ended=hold.ended, start=hold.start,
            end=hold.end or session.end_date_time or self._clock(),
            free_cancellation=cancelled_free(session), cdr=cdr)
        for listener in self._unused:
            try:
                await listener(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("unused_hold_listener_failed", hold_key=hold.key)

    # ------------------------------------------------------------------ credits

    async def credit(self, cdr_id: str, reason: str) -> Cdr | None:
        """Credit CDR ``cdr_id`` (sent after it); None when it is unknown, a credit itself,
        or credited already."""
        original = await self.repo.get(cdr_id)
        if original is None or original.credit:
            return None
        credit = credit_of(original, now=self._clock(), remark=reason)
        if not await self._issue(credit):
            return None
        return credit

    async def on_event(self, event: DomainEvent) -> None:
        """Late news from a charger that the CPO's side could not honour a reservation it
        billed as unused: a fault or unavailability of its EVSE, or the charger's removal of
        it, timed within the reservation."""
        if isinstance(event, ReservationEnded):
            if event.reason is not ReservationEndReason.REMOVED:
                return
            for cdr in await self.repo.recent_reservation_cdrs(event.charge_point_id):
                if cdr.ocpp_reservation_id == event.reservation_id:
                    await self._credit_cpo_fault(cdr, "the charger removed the reservation")
        elif isinstance(event, ConnectorStatusChanged) and event.status in _FAULTS:
            place = self._evse_at(event.charge_point_id, event.evse_id, event.connector_id)
            whole = event.connector_id == 0 and event.evse_id is None
            for cdr in await self.repo.recent_reservation_cdrs(event.charge_point_id):
                on_it = whole or (place is not None and place == (cdr.location.id,
                                                                   cdr.location.evse_uid))
                if on_it and cdr.start_date_time <= event.timestamp < cdr.end_date_time:
                    await self._credit_cpo_fault(
                        cdr, f"the EVSE was {event.status.value} during the reservation")

    async def _credit_cpo_fault(self, cdr: Cdr, why: str) -> None:
        if cdr.credit or await self.repo.get(cdr.id + CREDIT_SUFFIX) is not None:
            return
        credit = await self.credit(cdr.id, f"Credited: {why} (the CPO's side)")
        if credit is not None:
            log.info("cdr_credited_cpo_fault", cdr_id=cdr.id, reason=why,
                     charge_point_id=cdr.charge_point_id)
