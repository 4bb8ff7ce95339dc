"""The reservation service: reserve (pick, hold, ReserveNow, next candidate on refusal),
replace, cancel, and the lifecycle driven by charger events and the gateway's expiry clock.

The OCPI Commands module calls ``reserve`` / ``cancel`` and maps the typed results to
CommandResults; it registers a listener to learn about transitions the gateway detects itself
(used, expired, re-routed, removed -> CANCELED_RESERVATION).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

import structlog

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChargerCommands,
    CommandOutcome,
    ReserveNow,
)
from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    DomainEvent,
    ReservationEnded,
    ReservationEndReason,
    TokenPresented,
    TransactionStarted,
    utc_now,
)
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.engine import (
    OutcomeHint,
    Plan,
    PlannedCandidate,
    PolicyEngine,
    Refusal,
    RefusalReason,
)
from ocpi_gateway.reservation_policy.models import EvseCandidate, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.ocpp_ids import OcppReservationIds
from ocpi_gateway.reservation_policy.partner_cap import PartnerCap
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationRepository,
    ReservationState,
    reservation_key,
)
from ocpi_gateway.reservation_policy.rules import Exclusion, exclusion_of

log = structlog.get_logger(__name__)


class CandidateSource(Protocol):
    """The OCPI side's view of a location, adapted into engine candidates."""

    async def candidates(self, location_id: str) -> Sequence[EvseCandidate]:
        """Every EVSE of the location; empty when the location is unknown."""


class ReserveOutcome(StrEnum):
    ACCEPTED = "accepted"
    OCCUPIED = "occupied"
    INOPERATIVE = "inoperative"
    REJECTED = "rejected"
    OFFLINE = "offline"
    TIMEOUT = "timeout"
    NOT_SUPPORTED = "not_supported"


@dataclass(frozen=True, slots=True)
class ReserveResult:
    outcome: ReserveOutcome
    reservation: Reservation | None = None
    refusal: Refusal | None = None
    """Set when the policy refused before any charger was asked."""
    charger_outcomes: tuple[tuple[str, CommandOutcome], ...] = ()
    """(evse_uid, answer) of every charger asked, in order."""
    message: str = ""

    @property
    def evse_uid(self) -> str | None:
        return self.reservation.evse_uid if self.reservation else None

    @property
    def ocpp_reservation_id(self) -> int | None:
        return self.reservation.ocpp_reservation_id if self.reservation else None


class CancelOutcome(StrEnum):
    ACCEPTED = "accepted"
    UNKNOWN_RESERVATION = "unknown_reservation"


@dataclass(frozen=True, slots=True)
class CancelResult:
    outcome: CancelOutcome
    reservation: Reservation | None = None
    charger_outcome: CommandOutcome | None = None


ReservationListener = Callable[[Reservation, ReservationState], Awaitable[None]]
"""Called with the reservation after a transition and the state it left."""

_RETRY = frozenset({CommandOutcome.OCCUPIED, CommandOutcome.FAULTED, CommandOutcome.UNAVAILABLE,
                    CommandOutcome.REJECTED, CommandOutcome.OFFLINE,
                    CommandOutcome.NOT_SUPPORTED})
_PRIORITY = (
    (CommandOutcome.OCCUPIED, ReserveOutcome.OCCUPIED),
    (CommandOutcome.FAULTED, ReserveOutcome.INOPERATIVE),
    (CommandOutcome.UNAVAILABLE, ReserveOutcome.INOPERATIVE),
    (CommandOutcome.REJECTED, ReserveOutcome.REJECTED),
    (CommandOutcome.OFFLINE, ReserveOutcome.OFFLINE),
    (CommandOutcome.NOT_SUPPORTED, ReserveOutcome.NOT_SUPPORTED),
)
_HINT_OUTCOME = {OutcomeHint.REJECTED: ReserveOutcome.REJECTED,
                 OutcomeHint.OCCUPIED: ReserveOutcome.OCCUPIED,
                 OutcomeHint.INOPERATIVE: ReserveOutcome.INOPERATIVE}
_REMOVING_STATUSES = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})
_RELEASED_STATUSES = frozenset(ConnectorStatus) - _REMOVING_STATUSES - {ConnectorStatus.RESERVED}
"""What a connector shows once a presented token consumed its reservation (H03.FR.10)."""

TOKEN_USE_WINDOW = 120.0
"""Seconds after its token was presented in which the connector leaving Reserved counts as
the reservation being used (a later change is an expiry or a cancel at the charger)."""


def _final_outcome(answers: Sequence[CommandOutcome]) -> ReserveOutcome:
    if answers[-1] is CommandOutcome.TIMEOUT:
        return ReserveOutcome.TIMEOUT
    for answer, outcome in _PRIORITY:
        if answer in answers:
            return outcome
    return ReserveOutcome.REJECTED


@dataclass(slots=True)
class _Attempt:
    picked: PlannedCandidate | None
    ocpp_reservation_id: int | None
    answers: list[tuple[str, CommandOutcome]]


class ReservationService:
    def __init__(
        self,
        *,
        engine: PolicyEngine,
        store: DocumentStore,
        commands: ChargerCommands,
        candidates: CandidateSource,
        charger_timeout: float = 30.0,
        reroute_timeout: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.repo = ReservationRepository(store)
        self.ids = OcppReservationIds(store)
        self.commands = commands
        self.candidates = candidates
        self.charger_timeout = charger_timeout
        self.reroute_timeout = reroute_timeout
        self._clock = clock
        self._listeners: list[ReservationListener] = []
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self.cap = PartnerCap(store)
        self._background: set[asyncio.Task[None]] = set()
        # reservation key → monotonic time its token was last presented (Authorize). Events of
        # a charger reach only the instance holding it, so this instance's memory suffices.
        self._presented: dict[str, float] = {}

    # ------------------------------------------------------------------ plumbing

    def add_listener(self, listener: ReservationListener) -> None:
        self._listeners.append(listener)

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        """Serialises work on one reservation within this instance (other instances are kept
        out by compare-and-set); dropped once nobody holds or waits for it, so the map does
        not grow with every reservation ever made."""
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]

    async def _notify(self, reservation: Reservation, previous: ReservationState) -> None:
        for listener in self._listeners:
            try:
                await listener(reservation, previous)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reservation_listener_failed", **reservation.ids)

    async def _release(self, r: Reservation) -> None:
        if r.evse_uid is not None:
            await self.engine.release(r.location_id, r.evse_uid, holder=r.key)

    async def _finish(self, ended: Reservation) -> None:
        """Give back what a reservation that ended holds: its EVSE and its cap slot."""
        await self._release(ended)
        if ended.cap_slot is not None:
            await self.cap.release(ended.partner.key, ended.cap_slot, ended.key)

    async def _is_live(self, key: str) -> bool:
        r = await self.repo.get(key)
        return r is not None and r.live

    async def _cancel_at_charger(self, r: Reservation, wait: float | None = None
                                 ) -> CommandOutcome | None:
        if r.charge_point_id is None or r.ocpp_reservation_id is None:
            return None
        outcome = await self.commands.execute(
            CancelReservation(charge_point_id=r.charge_point_id,
                              reservation_id=r.ocpp_reservation_id),
            wait or self.charger_timeout)
        log.info("reservation_cancel_sent", outcome=outcome.value, **r.ids)
        return outcome

    def _in_background(self, coro: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reservation_background_failed")
        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background work (re-routes, withdrawals at chargers) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # ------------------------------------------------------------------ queries

    async def get(self, partner: Partner, reservation_id: str) -> Reservation | None:
        return await self.repo.get(reservation_key(partner, reservation_id))

    async def live_at_location(self, location_id: str) -> list[Reservation]:
        return await self.repo.live(location_id=location_id)

    # ------------------------------------------------------------------ reserve

    async def reserve(
        self, request: ReservationRequest, reservation_id: str, *, time_budget: float
    ) -> ReserveResult:
        """Reserve for ``request`` within ``time_budget`` seconds: pick, hold, ReserveNow, and on a
        refusal release the hold and try the next candidate while time is left.

        An existing live reservation with the same (partner, reservation_id) is replaced; if
        the EVSE changes, the old OCPP reservation is cancelled once the new one is accepted,
        and if no new EVSE can be had the old reservation stays as it was.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_budget
        key = reservation_key(request.partner, reservation_id)
        async with self._lock(key):
            existing = await self.repo.get(key)
            candidates = await self.candidates.candidates(request.location_id)
            if existing is not None and existing.live:
                return await self._replace(existing, request, candidates, deadline)
            active = await self._active_for(request)
            decision = await self.engine.decide(request, candidates, active_for_partner=active)
            if isinstance(decision, Refusal):
                log.info("reservation_refused", reservation_key=key,
                         location_id=request.location_id, reason=decision.reason.value,
                         detail=decision.message)
                return ReserveResult(_HINT_OUTCOME[decision.outcome_hint], refusal=decision,
                                     message=decision.message)
            record = await self.repo.start(self._new_record(key, reservation_id, request),
                                           existing)
            if record is None:
                return ReserveResult(ReserveOutcome.REJECTED,
                                     message="a request with this reservation_id is in progress")
            cap = decision.settings.max_concurrent_per_emsp
            if cap is not None:
                # Claimed only once the record is live, so no other request can mistake the
                # slot for one left behind by an ended reservation.
                slot = await self.cap.claim(request.partner.key, key, cap, self._is_live)
                claimed = None
                if slot is not None:
                    claimed = await self.repo.transition(
                        record, ReservationState.PENDING, reason="partner cap slot",
                        cap_slot=slot)
                    if claimed is None:
                        await self.cap.release(request.partner.key, slot, key)
                if claimed is None:
                    refusal = Refusal(RefusalReason.PARTNER_CAP_REACHED,
                                      f"{cap} live reservations already")
                    await self.repo.transition(record, ReservationState.FAILED,
                                               reason=refusal.message)
                    return ReserveResult(ReserveOutcome.REJECTED, refusal=refusal,
                                         message=refusal.message)
                record = claimed
            attempt = await self._attempt(record, request, decision, deadline)
            if attempt.picked is None:
                failed = await self.repo.transition(
                    record, ReservationState.FAILED, reason="no charger accepted")
                if failed is not None:
                    await self._finish(failed)
                return _failure(decision, attempt, failed or record)
            active_record = await self._activate(record, attempt, ReservationState.ACTIVE,
                                                 reason="accepted by charger")
            if active_record is None:
                return ReserveResult(ReserveOutcome.REJECTED,
                                     charger_outcomes=tuple(attempt.answers),
                                     message="the reservation was cancelled meanwhile")
            await self._notify(active_record, record.state)
            return ReserveResult(ReserveOutcome.ACCEPTED, reservation=active_record,
                                 charger_outcomes=tuple(attempt.answers))

    async def _active_for(self, request: ReservationRequest) -> int:
        # Counting scans the partner's reservations: only worth it when a cap applies.
        settings = self.engine.policy.effective(request.location_id, request.partner)
        if settings.max_concurrent_per_emsp is None:
            return 0
        return await self.repo.count_live(request.partner)

    def _new_record(self, key: str, reservation_id: str, request: ReservationRequest
                    ) -> Reservation:
        return Reservation(
            key=key, country_code=request.partner.country_code.upper(),
            party_id=request.partner.party_id.upper(), reservation_id=reservation_id,
            location_id=request.location_id, token_uid=request.token_uid,
            token_type=request.token_type, group_id_token=request.group_id_token,
            expiry=request.expiry, state=ReservationState.PENDING,
            requested_evse_uid=request.evse_uid, connector_standard=request.connector_standard,
            min_power_w=request.min_power_w)

    async def _attempt(self, record: Reservation, request: ReservationRequest, plan: Plan,
                       deadline: float, *, holder: str | None = None) -> _Attempt:
        """Try the plan's candidates in order; on success the EVSE stays held."""
        loop = asyncio.get_running_loop()
        holder = holder or record.key
        tried: set[str] = set()
        answers: list[tuple[str, CommandOutcome]] = []
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if not answers or answers[-1][1] is not CommandOutcome.TIMEOUT:
                    answers.append(("", CommandOutcome.TIMEOUT))
                break
            picked = await self.engine.hold(plan, holder=holder, until=request.expiry,
                                            skip=tried)
            if picked is None:
                break
            tried.add(picked.evse_uid)
            cp = picked.candidate.charge_point_id
            ocpp_id = await self.ids.next(cp)
            outcome = await self.commands.execute(
                ReserveNow(charge_point_id=cp, reservation_id=ocpp_id, expiry=request.expiry,
                           id_token=request.token_uid, id_token_type=request.token_type,
                           group_id_token=request.group_id_token,
                           evse_id=picked.target.evse_id,
                           connector_id=picked.target.connector_id),
                min(self.charger_timeout, remaining))
            log.info("reserve_now_answer", reservation_key=record.key, evse_uid=picked.evse_uid,
                     charge_point_id=cp, ocpp_reservation_id=ocpp_id, outcome=outcome.value,
                     whole_charger=picked.whole_charger)
            answers.append((picked.evse_uid, outcome))
            if outcome is CommandOutcome.ACCEPTED:
                return _Attempt(picked, ocpp_id, answers)
            await self.engine.release(plan.location_id, picked.evse_uid, holder=holder)
            if outcome is CommandOutcome.TIMEOUT:
                # A silent charger may still accept late: withdraw the id there, quietly.
                stray = replace(record, charge_point_id=cp, ocpp_reservation_id=ocpp_id)
                self._in_background(self._cancel_quietly(stray))
                break
            if outcome not in _RETRY:
                break
        return _Attempt(None, None, answers)

    async def _cancel_quietly(self, r: Reservation) -> None:
        await self._cancel_at_charger(r)

    async def _activate(self, record: Reservation, attempt: _Attempt, state: ReservationState,
                        *, reason: str, **changes: object) -> Reservation | None:
        picked = attempt.picked
        assert picked is not None
        updated = await self.repo.transition(
            record, state, reason=reason, evse_uid=picked.evse_uid,
            charge_point_id=picked.candidate.charge_point_id,
            ocpp_reservation_id=attempt.ocpp_reservation_id,
            evse_id=picked.target.evse_id, connector_id=picked.target.connector_id,
            whole_charger=picked.whole_charger, **changes)
        if updated is None:
            # Cancelled or ended by another writer while the charger was asked: undo there.
            undo = replace(record, evse_uid=picked.evse_uid,
                           charge_point_id=picked.candidate.charge_point_id,
                           ocpp_reservation_id=attempt.ocpp_reservation_id)
            await self._release(undo)
            self._in_background(self._cancel_quietly(undo))
        return updated

    async def _replace(self, existing: Reservation, request: ReservationRequest,
                       candidates: Sequence[EvseCandidate], deadline: float) -> ReserveResult:
        loop = asyncio.get_running_loop()
        if existing.state is ReservationState.PENDING:
            # Left PENDING by an instance that stopped mid-attempt: the EVSE it may have held
            # is not on the record yet, so find it by holder before trying again.
            snapshot = await self.engine.availability.location(existing.location_id)
            for uid, avail in snapshot.items():
                if avail.holder == existing.key:
                    await self.engine.release(existing.location_id, uid, holder=existing.key)
        changes: dict[str, object] = {
            "token_uid": request.token_uid, "token_type": request.token_type,
            "group_id_token": request.group_id_token, "expiry": request.expiry,
            "requested_evse_uid": request.evse_uid,
            "connector_standard": request.connector_standard,
            "min_power_w": request.min_power_w, "location_id": request.location_id}
        if self._keeps_evse(existing, request, candidates):
            # Same target: OCPP replaces a reservation sent again with the same id (H01.FR.02).
            assert existing.charge_point_id is not None
            assert existing.ocpp_reservation_id is not None
            outcome = await self.commands.execute(
                ReserveNow(charge_point_id=existing.charge_point_id,
                           reservation_id=existing.ocpp_reservation_id, expiry=request.expiry,
                           id_token=request.token_uid, id_token_type=request.token_type,
                           group_id_token=request.group_id_token, evse_id=existing.evse_id,
                           connector_id=existing.connector_id),
                max(0.001, min(self.charger_timeout, deadline - loop.time())))
            answers = ((existing.evse_uid or "", outcome),)
            if outcome is not CommandOutcome.ACCEPTED:
                return ReserveResult(_final_outcome([outcome]), reservation=existing,
                                     charger_outcomes=answers,
                                     message="the charger refused the update; the reservation "
                                             "is unchanged")
            updated = await self.repo.transition(existing, ReservationState.ACTIVE,
                                                 reason="replaced in place", **changes)
            if updated is None:
                return ReserveResult(ReserveOutcome.REJECTED, charger_outcomes=answers,
                                     message="the reservation ended meanwhile")
            await self._extend_hold(updated)
            return ReserveResult(ReserveOutcome.ACCEPTED, reservation=updated,
                                 charger_outcomes=answers)
        active = max(0, await self._active_for(request) - 1)
        decision = await self.engine.decide(request, candidates, active_for_partner=active)
        if isinstance(decision, Refusal):
            return ReserveResult(_HINT_OUTCOME[decision.outcome_hint], reservation=existing,
                                 refusal=decision, message=decision.message)
        attempt = await self._attempt(existing, request, decision, deadline)
        if attempt.picked is None:
            return _failure(decision, attempt, existing)
        updated = await self._activate(existing, attempt, ReservationState.ACTIVE,
                                       reason="replaced", **changes)
        if updated is None:
            return ReserveResult(ReserveOutcome.REJECTED, charger_outcomes=tuple(attempt.answers),
                                 message="the reservation ended meanwhile")
        if existing.evse_uid != updated.evse_uid or existing.location_id != updated.location_id:
            await self._release(existing)
        await self._notify(updated, existing.state)
        # The new reservation stands; withdrawing the old one must not delay the answer.
        self._in_background(self._cancel_quietly(existing))
        return ReserveResult(ReserveOutcome.ACCEPTED, reservation=updated,
                             charger_outcomes=tuple(attempt.answers))

    def _keeps_evse(self, existing: Reservation, request: ReservationRequest,
                    candidates: Sequence[EvseCandidate]) -> bool:
        if (existing.state is ReservationState.PENDING or existing.evse_uid is None
                or existing.location_id != request.location_id
                or request.evse_uid not in (None, existing.evse_uid)):
            return False
        current = next((c for c in candidates if c.evse_uid == existing.evse_uid), None)
        if current is None:
            return False
        why = exclusion_of(current, None, request)
        # Availability-based reasons are expected: the EVSE is held and reserved by us.
        return why is None or why[0] is Exclusion.UNKNOWN_STATUS

    async def _extend_hold(self, r: Reservation) -> None:
        # The hold ends at the old expiry; take it again until the new one. While the charger
        # shows the EVSE Reserved nobody else can pick it anyway, so a failed re-hold is fine.
        if r.evse_uid is None:
            return
        avail = self.engine.availability
        current = await avail.get(r.location_id, r.evse_uid)
        if current is not None and current.hold_until is not None \
                and current.hold_until >= r.expiry:
            return
        await self.engine.release(r.location_id, r.evse_uid, holder=r.key)
        if await avail.pick_and_hold(r.location_id, [r.evse_uid], holder=r.key,
                                     until=r.expiry) is None:
            log.info("reservation_hold_not_extended", **r.ids)

    # ------------------------------------------------------------------ cancel

    async def cancel(self, partner: Partner, reservation_id: str, *,
                     charger_wait: float | None = None) -> CancelResult:
        """End a live reservation: CancelReservation at the charger, release the hold.

        The reservation ends on the gateway whatever the charger answers (a charger that
        no longer knows the id has nothing to cancel; an offline one will let it expire), so
        the driver is never billed for a reservation they cancelled.
        """
        key = reservation_key(partner, reservation_id)
        async with self._lock(key):
            for _ in range(5):
                r = await self.repo.get(key)
                if r is None or not r.live:
                    return CancelResult(CancelOutcome.UNKNOWN_RESERVATION, reservation=r)
                charger_outcome = await self._cancel_at_charger(r, charger_wait)
                ended = await self.repo.transition(r, ReservationState.CANCELLED,
                                                   reason="cancelled by eMSP")
                if ended is not None:
                    await self._finish(ended)
                    await self._notify(ended, r.state)
                    return CancelResult(CancelOutcome.ACCEPTED, ended, charger_outcome)
            return CancelResult(CancelOutcome.UNKNOWN_RESERVATION)

    # ------------------------------------------------------------------ expiry

    async def expire_due(self, now: datetime | None = None) -> int:
        """End every live reservation whose expiry passed. Safe on several instances at once:
        the compare-and-set of the transition decides which one expires each reservation."""
        now = now or self._clock()
        expired = 0
        for r in await self.repo.due(now):
            ended = await self.repo.transition(r, ReservationState.EXPIRED,
                                               reason="expiry clock")
            if ended is None:
                continue
            expired += 1
            await self._finish(ended)
            await self._notify(ended, r.state)
        return expired

    # ------------------------------------------------------------------ charger events

    async def handle_event(self, event: DomainEvent) -> None:
        """Subscribe this to the EventBus."""
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
        elif isinstance(event, ConnectorStatusChanged) and event.status in _REMOVING_STATUSES:
            await self._on_fault(event)
        elif isinstance(event, ConnectorStatusChanged) and event.status in _RELEASED_STATUSES:
            await self._on_released(event)

    async def _on_presented(self, event: TokenPresented) -> None:
        presented = event.id_token.casefold()
        now = asyncio.get_running_loop().time()
        for key, at in list(self._presented.items()):
            if now - at > TOKEN_USE_WINDOW:
                del self._presented[key]
        for r in await self.repo.live(charge_point_id=event.charge_point_id):
            if presented in (r.token_uid.casefold(), ocpp16_id_tag(r.token_uid).casefold()):
                self._presented[r.key] = now

    async def _on_released(self, event: ConnectorStatusChanged) -> None:
        if not self._presented:
            return
        now = asyncio.get_running_loop().time()
        for r in await self.repo.live(charge_point_id=event.charge_point_id):
            at = self._presented.get(r.key)
            if at is None or now - at > TOKEN_USE_WINDOW:
                continue
            # A whole-charger reservation shows no Reserved connector (1.6 connector 0): only a
            # transaction tells it was used.
            on_it = not r.whole_charger and (
                (r.evse_id is not None and event.evse_id == r.evse_id)
                or (r.evse_id is None and event.connector_id == r.connector_id))
            if on_it:
                del self._presented[r.key]
                await self._end_used(r, "token presented; the charger released the reservation",
                                     same_target=True)

    async def _on_transaction(self, event: TransactionStarted) -> None:
        if event.reservation_id is not None:
            for r in await self.repo.live(charge_point_id=event.charge_point_id,
                                          ocpp_reservation_id=event.reservation_id):
                await self._end_used(r, "transaction started with the reservation id",
                                     same_target=True)
                return
        if event.id_token is not None:
            await self._on_token(event.charge_point_id, event.id_token, event.evse_id,
                                 event.connector_id, "transaction started with the token")

    async def _on_token(self, cp: str, id_token: str, evse_id: int | None,
                        connector_id: int | None, reason: str) -> None:
        # IdTokens are case-insensitive (1.6 CiString20Type, 2.0.1 identifierString).
        presented = id_token.casefold()
        for r in await self.repo.live(charge_point_id=cp):
            if presented not in (r.token_uid.casefold(),
                                 ocpp16_id_tag(r.token_uid).casefold()):
                continue
            same = (r.whole_charger
                    or (evse_id is None and connector_id is None)
                    or (r.evse_id is not None and evse_id == r.evse_id)
                    or (r.evse_id is None and connector_id == r.connector_id))
            await self._end_used(r, reason, same_target=same)
            return

    async def _end_used(self, r: Reservation, reason: str, *, same_target: bool) -> None:
        ended = await self.repo.transition(r, ReservationState.USED, reason=reason)
        if ended is None:
            return
        await self._finish(ended)
        if not same_target:
            # The driver charges elsewhere on the charger: free the reserved EVSE there too.
            self._in_background(self._cancel_quietly(ended))
        await self._notify(ended, r.state)

    async def _on_reservation_ended(self, event: ReservationEnded) -> None:
        for r in await self.repo.live(charge_point_id=event.charge_point_id,
                                      ocpp_reservation_id=event.reservation_id):
            if event.reason is ReservationEndReason.EXPIRED:
                ended = await self.repo.transition(r, ReservationState.EXPIRED,
                                                   reason="charger reported expiry")
                if ended is not None:
                    await self._finish(ended)
                    await self._notify(ended, r.state)
            else:
                # In the background: the re-route talks to other chargers, and this runs in
                # the task of the charger's connection, which must answer its messages.
                self._in_background(self.reroute(
                    r, reason="charger removed the reservation", cancel_at_charger=False))

    async def _on_fault(self, event: ConnectorStatusChanged) -> None:
        charger_wide = event.connector_id == 0 and event.evse_id is None
        for r in await self.repo.live(charge_point_id=event.charge_point_id):
            if r.state is ReservationState.PENDING:
                continue
            if charger_wide:
                hit = True
            elif r.whole_charger:
                hit = False  # the charger keeps another of its EVSEs for the driver
            elif event.evse_id is not None:
                hit = r.evse_id == event.evse_id
            else:
                hit = r.evse_id is None and r.connector_id == event.connector_id
            if hit:
                self._in_background(self.reroute(
                    r, reason=f"EVSE went {event.status.value}", cancel_at_charger=True,
                    avoid_charger=charger_wide))

    async def reroute(self, r: Reservation, *, reason: str, cancel_at_charger: bool,
                      avoid_charger: bool = False) -> Reservation | None:
        """Move a live reservation to another EVSE of its location; end it as REMOVED (and
        tell the listeners, so the eMSP gets CANCELED_RESERVATION) when none is left."""
        async with self._lock(r.key):
            current = await self.repo.get(r.key)
            if (current is None or not current.live or current.version != r.version):
                return current
            log.info("reservation_reroute", reason=reason, **current.ids)
            if cancel_at_charger:
                await self._cancel_at_charger(current, min(self.charger_timeout, 5.0))
            await self._release(current)
            candidates = await self.candidates.candidates(current.location_id)
            avoid = {current.evse_uid} if current.evse_uid else set()
            if avoid_charger or current.whole_charger:
                avoid |= {c.evse_uid for c in candidates
                          if c.charge_point_id == current.charge_point_id}
            request = ReservationRequest(
                location_id=current.location_id, evse_uid=None, partner=current.partner,
                token_uid=current.token_uid, expiry=current.expiry,
                token_type=current.token_type, group_id_token=current.group_id_token,
                connector_standard=current.connector_standard,
                min_power_w=current.min_power_w)
            decision = await self.engine.decide(request, candidates, reroute_from=avoid)
            attempt: _Attempt | None = None
            if isinstance(decision, Plan):
                deadline = asyncio.get_running_loop().time() + self.reroute_timeout
                attempt = await self._attempt(current, request, decision, deadline)
            if attempt is not None and attempt.picked is not None:
                moved = await self._activate(current, attempt, ReservationState.REROUTED,
                                             reason=f"re-routed: {reason}")
                if moved is not None:
                    await self._notify(moved, current.state)
                return moved
            if isinstance(decision, Refusal):
                why = decision.message
            elif attempt is not None and attempt.answers:
                why = _describe_answers(attempt.answers)
            else:
                why = decision.exhausted.message
            ended = await self.repo.transition(current, ReservationState.REMOVED,
                                               reason=f"{reason}; no alternative: {why}")
            if ended is not None:
                await self._finish(ended)
                await self._notify(ended, current.state)
            return ended


def _failure(plan: Plan, attempt: _Attempt, reservation: Reservation) -> ReserveResult:
    if not attempt.answers:
        # Nothing could be held: what the snapshot says about the location tells why.
        return ReserveResult(_HINT_OUTCOME[plan.exhausted.outcome_hint], reservation=reservation,
                             refusal=plan.exhausted, message=plan.exhausted.message)
    return ReserveResult(_final_outcome([a for _, a in attempt.answers]),
                         reservation=reservation, charger_outcomes=tuple(attempt.answers),
                         message=_describe_answers(attempt.answers))


def _describe_answers(answers: Collection[tuple[str, CommandOutcome]]) -> str:
    if not answers:
        return "no free EVSE could be held"
    return ", ".join(f"{uid or '-'}: {outcome.value}" for uid, outcome in answers)
