"""The lifecycle driven by charger events: use (transaction, or token presented and connector
released), expiry reported by the charger, removal (fault, 2.0.1 Removed) and the re-route to
another EVSE of the location that follows it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.events import (
    AvailabilityChanged,
    ConnectorStatus,
    ConnectorStatusChanged,
    DomainEvent,
    ReservationEnded,
    ReservationEndReason,
    TokenPresented,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.reservation_policy.attempts import Attempt, activate, try_candidates
from ocpi_gateway.reservation_policy.core import ReservationCore
from ocpi_gateway.reservation_policy.engine import Refusal
from ocpi_gateway.reservation_policy.models import ReservationRequest
from ocpi_gateway.reservation_policy.plans import Plan
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservation_policy.results import describe_answers

log = structlog.get_logger(__name__)

_REMOVING_STATUSES = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})
_RELEASED_STATUSES = frozenset(ConnectorStatus) - _REMOVING_STATUSES - {ConnectorStatus.RESERVED}
"""What a connector shows once a presented token consumed its reservation (H03.FR.10)."""

TOKEN_USE_WINDOW = 120.0
"""Seconds after its token was presented in which the connector leaving Reserved counts as
the reservation being used (a later change is an expiry or a cancel at the charger)."""

EXPIRY_SLACK = timedelta(seconds=60)
"""A charger that ends a reservation this close to its expiry expired it (its clock is not
ours); earlier, it removed it."""

_Address = tuple[str, int | None, int | None]
"""(charge point, EVSE id, connector id) as a status event names it: 1.6 names a connector,
2.0.1 an EVSE (its connector id is left out)."""


def _token_matches(r: Reservation, presented: str) -> bool:
    # IdTokens are case-insensitive (1.6 CiString20Type, 2.0.1 identifierString).
    return presented in (r.token_uid.casefold(), ocpp16_id_tag(r.token_uid).casefold())


def _address(event: ConnectorStatusChanged) -> _Address:
    if event.evse_id is not None:
        return (event.charge_point_id, event.evse_id, None)
    return (event.charge_point_id, None, event.connector_id)


class ChargerEvents:
    def __init__(self, core: ReservationCore) -> None:
        self._core = core
        # reservation key → when its token was last presented (Authorize), on the core's
        # clock. Events of a charger reach only the instance holding it, so this instance's
        # memory suffices.
        self._presented: dict[str, datetime] = {}
        # Where the charger last showed a connector Reserved (a charger reports its statuses
        # again when it connects, so a new instance learns them too).
        self._shown_reserved: set[_Address] = set()

    async def handle(self, event: DomainEvent) -> None:
        # An Authorize (TokenPresented) alone is no use: 1.6 §5.13 and 2.0.1 H01 recommend that
        # the charger validates the reserved idTag with one right after accepting ReserveNow.
        # A transaction started with the reservation id or the token uses it (H03); so does
        # the token presented and then the connector leaving Reserved, which is how a charger
        # shows it consumed the reservation (H03.FR.09/10) before any transaction starts.
        if isinstance(event, TransactionStarted):
            await self._on_transaction(event)
        elif isinstance(event, TokenPresented):
            await self._on_presented(event)
        elif isinstance(event, ReservationEnded):
            await self._on_reservation_ended(event)
        elif isinstance(event, AvailabilityChanged):
            if not event.operative:
                # Out of service by the operator: whatever the charger reports next (a busy
                # one answers Scheduled and reports nothing yet), its reservations move now.
                await self._reroute_at(
                    event.charge_point_id, event.evse_id,
                    None if event.evse_id is not None else event.connector_id,
                    charger_wide=event.whole_charger, why="EVSE taken out of service")
        elif isinstance(event, ConnectorStatusChanged):
            shown_reserved = self._note_reserved(event)
            if event.status in _REMOVING_STATUSES:
                await self._on_fault(event)
            elif event.status in _RELEASED_STATUSES:
                await self._on_released(event, shown_reserved)

    def _note_reserved(self, event: ConnectorStatusChanged) -> bool:
        """Remember where the charger shows Reserved; whether this event's connector did so
        until now."""
        address = _address(event)
        if event.status is ConnectorStatus.RESERVED:
            self._shown_reserved.add(address)
            return False
        if address in self._shown_reserved:
            self._shown_reserved.discard(address)
            return True
        return False

    async def _on_presented(self, event: TokenPresented) -> None:
        presented = event.id_token.casefold()
        now = self._core.clock()
        for key, at in list(self._presented.items()):
            if (now - at).total_seconds() > TOKEN_USE_WINDOW:
                del self._presented[key]
        for r in await self._core.repo.live(charge_point_id=event.charge_point_id):
            if _token_matches(r, presented):
                self._presented[r.key] = now

    async def _on_released(self, event: ConnectorStatusChanged, shown_reserved: bool) -> None:
        if not self._presented and not shown_reserved:
            return
        now = self._core.clock()
        for r in await self._core.repo.live(charge_point_id=event.charge_point_id):
            # A whole-charger reservation shows no Reserved connector (1.6 connector 0): only a
            # transaction tells it was used.
            on_it = r.state is not ReservationState.PENDING and not r.whole_charger and (
                (r.evse_id is not None and event.evse_id == r.evse_id)
                or (r.evse_id is None and event.connector_id == r.connector_id))
            if not on_it:
                continue
            at = self._presented.get(r.key)
            if at is not None and (now - at).total_seconds() <= TOKEN_USE_WINDOW:
                del self._presented[r.key]
                await self._end_used(r, "token presented; the charger released the reservation",
                                     same_target=True)
            elif shown_reserved and event.status is ConnectorStatus.AVAILABLE:
                # In the background, under the reservation's lock: a cancel by the eMSP may be
                # waiting for this very charger's answer, and wins.
                self._core.in_background(ended_by_charger(self._core, r))

    async def _on_transaction(self, event: TransactionStarted) -> None:
        if event.reservation_id is not None:
            for r in await self._core.repo.live(charge_point_id=event.charge_point_id,
                                                ocpp_reservation_id=event.reservation_id):
                await self._end_used(r, "transaction started with the reservation id",
                                     same_target=True)
                return
        if event.id_token is not None:
            await self._on_token(event.charge_point_id, event.id_token, event.evse_id,
                                 event.connector_id, "transaction started with the token")

    async def _on_token(self, cp: str, id_token: str, evse_id: int | None,
                        connector_id: int | None, reason: str) -> None:
        presented = id_token.casefold()
        for r in await self._core.repo.live(charge_point_id=cp):
            if not _token_matches(r, presented):
                continue
            same = (r.whole_charger
                    or (evse_id is None and connector_id is None)
                    or (r.evse_id is not None and evse_id == r.evse_id)
                    or (r.evse_id is None and connector_id == r.connector_id))
            await self._end_used(r, reason, same_target=same)
            return

    async def _end_used(self, r: Reservation, reason: str, *, same_target: bool) -> None:
        core = self._core
        ended = await core.repo.transition(r, ReservationState.USED, reason=reason)
        if ended is None:
            return
        await core.finish(ended)
        if not same_target:
            # The driver charges elsewhere on the charger: free the reserved EVSE there too.
            core.in_background(core.cancel_quietly(ended))
        await core.notify(ended, r.state)

    async def _on_reservation_ended(self, event: ReservationEnded) -> None:
        for r in await self._core.repo.live(charge_point_id=event.charge_point_id,
                                            ocpp_reservation_id=event.reservation_id):
            if event.reason is ReservationEndReason.EXPIRED:
                await self._core.end(r, ReservationState.EXPIRED, "charger reported expiry")
            else:
                # In the background: the re-route talks to other chargers, and this runs in
                # the task of the charger's connection, which must answer its messages.
                self._core.in_background(reroute(
                    self._core, r, reason="charger removed the reservation",
                    cancel_at_charger=False))

    async def _on_fault(self, event: ConnectorStatusChanged) -> None:
        await self._reroute_at(event.charge_point_id, event.evse_id, event.connector_id,
                               charger_wide=event.connector_id == 0 and event.evse_id is None,
                               why=f"EVSE went {event.status.value}")

    async def _reroute_at(self, cp: str, evse_id: int | None, connector_id: int | None, *,
                          charger_wide: bool, why: str) -> None:
        """Re-route the live reservations at an OCPP target that can no longer serve them."""
        for r in await self._core.repo.live(charge_point_id=cp):
            if r.state is ReservationState.PENDING:
                continue
            if charger_wide:
                hit = True
            elif r.whole_charger:
                hit = False  # the charger keeps another of its EVSEs for the driver
            elif evse_id is not None:
                hit = r.evse_id == evse_id
            else:
                hit = r.evse_id is None and r.connector_id == connector_id
            if hit:
                self._core.in_background(reroute(
                    self._core, r, reason=why, cancel_at_charger=True,
                    avoid_charger=charger_wide))


async def ended_by_charger(core: ReservationCore, r: Reservation) -> Reservation | None:
    """Reserved → Available with no transaction and no token: the charger ended the
    reservation (a 1.6 charger says nothing else when it expires or is removed there). Near
    its expiry it expired; earlier it was removed, and is re-routed like one."""
    async with core.lock(r.key):
        current = await core.repo.get(r.key)
        if current is None or not current.live or current.version != r.version:
            return current
        if current.ends_at - EXPIRY_SLACK <= core.clock():
            return await core.end(current, ReservationState.EXPIRED,
                                  "the charger released it at its expiry")
    return await reroute(core, current, reason="the charger released the reservation",
                         cancel_at_charger=False)


async def reroute(core: ReservationCore, r: Reservation, *, reason: str,
                  cancel_at_charger: bool, avoid_charger: bool = False) -> Reservation | None:
    """Move a live reservation to another EVSE of its location; end it as REMOVED (and tell
    the listeners, so the eMSP gets CANCELED_RESERVATION) when none is left."""
    async with core.lock(r.key):
        current = await core.repo.get(r.key)
        if (current is None or not current.live or current.version != r.version):
            return current
        log.info("reservation_reroute", reason=reason, **current.ids)
        if cancel_at_charger:
            await core.cancel_at_charger(current, min(core.charger_timeout, 5.0))
        await core.release(current)
        candidates = await core.candidates.candidates(current.location_id)
        avoid = {current.evse_uid} if current.evse_uid else set()
        if avoid_charger or current.whole_charger:
            avoid |= {c.evse_uid for c in candidates
                      if c.charge_point_id == current.charge_point_id}
        # Any other EVSE of the location will do, but an EVSE-specific request stays one: the
        # whole-charger rule applies only when the eMSP named no EVSE.
        request = ReservationRequest(
            location_id=current.location_id, evse_uid=None, partner=current.partner,
            token_uid=current.token_uid, expiry=current.expiry,
            grace=timedelta(seconds=current.grace_seconds),
            token_type=current.token_type, group_id_token=current.group_id_token,
            connector_standard=current.connector_standard,
            min_power_w=current.min_power_w,
            whole_charger_allowed=current.requested_evse_uid is None,
            booking_key=current.booking_key)
        decision = await core.engine.decide(request, candidates, reroute_from=avoid)
        attempt: Attempt | None = None
        if isinstance(decision, Plan):
            deadline = asyncio.get_running_loop().time() + core.reroute_timeout
            attempt = await try_candidates(core, current, request, decision, deadline)
        if attempt is not None and attempt.picked is not None:
            moved = await activate(core, attempt, ReservationState.REROUTED,
                                   reason=f"re-routed: {reason}")
            if moved is not None:
                await core.notify(moved, current.state)
            return moved
        if isinstance(decision, Refusal):
            why = decision.message
        elif attempt is not None and attempt.answers:
            why = describe_answers(attempt.answers)
        else:
            why = decision.exhausted.message
        last = attempt.record if attempt is not None else current
        return await core.end(last, ReservationState.REMOVED,
                              f"{reason}; no alternative: {why}",
                              attempt=last.attempt if attempt and attempt.timed_out else None)
