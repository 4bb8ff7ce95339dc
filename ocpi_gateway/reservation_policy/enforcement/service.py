"""The enforcement service: records what ended unused, bans the tokens that reach the
policy's strikes, answers the admission rule (``refusal``: RESERVE_NOW through the policy
engine, and the bookings admission, call this one function) and lets the operator list,
lift and set bans (the CLI and the admin API are thin clients of these methods).

Every refusal, no-show and ban is logged with its ids and told to the ``observer`` (the
gateway counts them in its metrics; this package knows nothing of Prometheus).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from ocpi_gateway.domain.events import BookingTransitioned, utc_now
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.enforcement.bans import Ban, BanRepository, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import (
    CAS_ATTEMPTS,
    DailyCounts,
    EndedCounts,
    NoShow,
    NoShowRepository,
    UnusedKind,
)
from ocpi_gateway.reservation_policy.enforcement.rule import (
    ban_refusal,
    rate_refusal,
    strikes,
    strikes_reached,
    strikes_reason,
)
from ocpi_gateway.reservation_policy.engine import Refusal
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PolicySource
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState

log = structlog.get_logger(__name__)

POLICY = "policy"
"""``Ban.by`` of a ban the policy set."""

_NO_SHOW, _FULFILLED = "NO_SHOW", "FULFILLED"
"""``bookings.states.BookingState`` values (a booking event carries them as strings)."""
_HELD = frozenset({ReservationState.ACTIVE, ReservationState.REROUTED})
"""A reservation expiring from these was held at a charger for the driver: a no-show. One
that expires PENDING never was (no charger confirmed it)."""


class BanError(Exception):
    """An operator's ban that cannot be set (it would end in the past, or the token's record
    kept changing under it)."""


class EnforcementObserver(Protocol):
    def refused(self, refusal: Refusal) -> None: ...

    def no_show(self, record: NoShow) -> None: ...

    def banned(self, ban: Ban) -> None: ...

    def lifted(self, ban: Ban) -> None: ...


class _Unobserved:
    def refused(self, refusal: Refusal) -> None:
        pass

    def no_show(self, record: NoShow) -> None:
        pass

    def banned(self, ban: Ban) -> None:
        pass

    def lifted(self, ban: Ban) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a token and its eMSP stand (``policy explain --token``, the admin API)."""

    ban: Ban | None
    no_shows: tuple[NoShow, ...]
    strikes: tuple[NoShow, ...]
    """The no-shows that count towards the next ban."""
    counts: EndedCounts
    """The eMSP's ended reservations and bookings in the rate's window."""
    refusal: Refusal | None


class Enforcement:
    def __init__(self, store: DocumentStore, policy: PolicySource, *,
                 clock: Callable[[], datetime] = utc_now,
                 observer: EnforcementObserver | None = None) -> None:
        self.records = NoShowRepository(store)
        self.counts = DailyCounts(store)
        self.bans = BanRepository(store)
        self._policy = policy
        self._clock = clock
        self._observer: EnforcementObserver = observer or _Unobserved()

    # ------------------------------------------------------------------ the admission rule

    async def refusal(self, partner: Partner, token_uid: str, location_id: str
                      ) -> Refusal | None:
        """Why a new reservation or booking of ``token_uid`` (of ``partner``) at the location
        is refused, or None: a ban of the token, else the eMSP's no-show rate."""
        now = self._clock()
        refusal = ban_refusal(await self.bans.get(partner, token_uid), now)
        if refusal is None:
            rate = self._policy.effective(location_id, partner).max_no_show_rate
            if rate.enabled:
                counts = await self.counts.window(partner, now, rate.within_days)
                refusal = rate_refusal(partner, counts, rate)
        if refusal is not None:
            log.info("enforcement_refused", reason=refusal.reason.value,
                     detail=refusal.message, partner_key=partner.key, token_uid=token_uid,
                     location_id=location_id)
            self._observer.refused(refusal)
        return refusal

    # ------------------------------------------------------------------ what ended

    async def on_reservation(self, r: Reservation, previous: ReservationState) -> None:
        """A ``ReservationService`` listener: an expired reservation is a no-show, a used
        one counts for the eMSP's rate. A booking's binding counts as its booking
        (``on_booking``), not twice."""
        if r.booking_key is not None:
            return
        if r.state is ReservationState.EXPIRED and previous in _HELD:
            await self.record_no_show(
                kind=UnusedKind.RESERVATION, partner=r.partner, token_uid=r.token_uid,
                reference=r.reservation_id, location_id=r.location_id, evse_uid=r.evse_uid,
                reserved_at=r.created_at, expired_at=r.expiry)
        elif r.state is ReservationState.USED:
            await self.record_used(r.partner)

    async def on_booking(self, event: BookingTransitioned) -> None:
        """A ``BookingLedger`` listener: a booking that ends NO_SHOW is a no-show of every
        token it named (each was promised the slot) and one for its eMSP's rate; FULFILLED
        counts as ended."""
        partner = Partner(event.country_code, event.party_id)
        if event.state == _NO_SHOW and event.previous != _NO_SHOW:
            for index, token_uid in enumerate(event.token_uids or ("",)):
                await self.record_no_show(
                    kind=UnusedKind.BOOKING, partner=partner, token_uid=token_uid,
                    reference=event.booking_id, location_id=event.location_id,
                    evse_uid=event.evse_uid, reserved_at=event.start,
                    expired_at=event.timestamp, counted=index == 0)
        elif event.state == _FULFILLED and event.previous != _FULFILLED:
            await self.record_used(partner)

    async def record_used(self, partner: Partner) -> None:
        """A reservation or booking of the eMSP was used (the rate's denominator)."""
        if not await self.counts.count(partner, self._clock(), unused=False):
            log.warning("no_show_count_lost", partner_key=partner.key)

    async def record_no_show(self, *, kind: UnusedKind, partner: Partner, token_uid: str,
                             reference: str, location_id: str, evse_uid: str | None,
                             reserved_at: datetime, expired_at: datetime,
                             counted: bool = True) -> NoShow | None:
        """Record a reservation or booking that ended unused, and ban its token when that
        makes the strikes of the policy at its location; None when it was recorded already
        (another instance heard of the same end). ``counted``: also one more no-show of the
        eMSP for its rate (once per booking, whatever the number of its tokens). A booking
        without a token (``token_uid`` "") is the eMSP's no-show only: no strike."""
        record = NoShow(kind=kind, country_code=partner.country_code.upper(),
                        party_id=partner.party_id.upper(), token_uid=token_uid,
                        reference=reference, location_id=location_id, evse_uid=evse_uid,
                        reserved_at=reserved_at, expired_at=expired_at,
                        recorded_at=self._clock())
        if not await self.records.add(record):
            return None
        log.info("no_show_recorded", kind=kind.value, reference=reference,
                 expired_at=expired_at.isoformat(), **record.ids)
        self._observer.no_show(record)
        if counted and not await self.counts.count(record.partner, record.recorded_at,
                                                   unused=True):
            log.warning("no_show_count_lost", **record.ids)
        terms = self._policy.effective(location_id, record.partner).no_show_strikes
        if terms.enabled and token_uid:
            await self._strike(record)
        return record

    async def _strike(self, record: NoShow) -> Ban | None:
        terms = self._policy.effective(record.location_id, record.partner).no_show_strikes
        now = record.recorded_at
        for _ in range(CAS_ATTEMPTS):
            current = await self.bans.get(record.partner, record.token_uid)
            if current is not None and current.active(now):
                return None  # banned already; this no-show counts towards the next ban
            counted = strikes(await self.records.of_token(record.partner, record.token_uid),
                              terms, now, current.strikes_from if current else None)
            if not strikes_reached(counted, terms):
                return None
            ban = Ban(country_code=record.country_code, party_id=record.party_id,
                      token_uid=record.token_uid, since=now,
                      until=now + timedelta(days=terms.ban_days), source=BanSource.NO_SHOWS,
                      reason=strikes_reason(counted, terms), by=POLICY,
                      no_shows=tuple(n.key for n in counted), strikes_from=now)
            stored = current.succeeded_by(ban) if current is not None else ban
            if await self.bans.write(stored, current):
                log.info("token_banned", reason=stored.reason, by=POLICY,
                         no_shows=list(stored.no_shows), **stored.ids)
                self._observer.banned(stored)
                return stored
        log.warning("token_ban_lost", **record.ids)
        return None

    # ------------------------------------------------------------------ the operator's bans

    async def list_bans(self, *, partner: Partner | None = None,
                        include_ended: bool = False) -> list[Ban]:
        """Bans in force (``include_ended``: also ended and lifted ones), the latest end
        first."""
        now = self._clock()
        bans = await self.bans.all(partner)
        return bans if include_ended else [b for b in bans if b.active(now)]

    async def ban_of(self, partner: Partner, token_uid: str) -> Ban | None:
        """The token's current or last ban."""
        return await self.bans.get(partner, token_uid)

    async def lift(self, partner: Partner, token_uid: str, *, by: str, reason: str = ""
                   ) -> Ban | None:
        """End the token's ban now and forgive the no-shows so far; None when it is not
        banned."""
        for _ in range(CAS_ATTEMPTS):
            now = self._clock()
            current = await self.bans.get(partner, token_uid)
            if current is None or not current.active(now):
                return None
            lifted = replace(current, lifted_at=now, lifted_by=by, lift_reason=reason,
                             strikes_from=now, version=current.version + 1)
            if await self.bans.write(lifted, current):
                log.info("token_ban_lifted", by=by, lift_reason=reason, **lifted.ids)
                self._observer.lifted(lifted)
                return lifted
        raise BanError(f"the ban of {token_uid} kept changing; try again")

    async def set_ban(self, partner: Partner, token_uid: str, *, until: datetime,
                      reason: str, by: str) -> Ban:
        """Ban the token until ``until`` (replacing any ban it has)."""
        for _ in range(CAS_ATTEMPTS):
            now = self._clock()
            if until <= now:
                raise BanError(f"a ban must end in the future (not {until.isoformat()})")
            current = await self.bans.get(partner, token_uid)
            ban = Ban(country_code=partner.country_code.upper(),
                      party_id=partner.party_id.upper(), token_uid=token_uid, since=now,
                      until=until, source=BanSource.OPERATOR, reason=reason, by=by,
                      strikes_from=current.strikes_from if current is not None else None)
            stored = current.succeeded_by(ban) if current is not None else ban
            if await self.bans.write(stored, current):
                log.info("token_banned", reason=reason, by=by, **stored.ids)
                self._observer.banned(stored)
                return stored
        raise BanError(f"the ban of {token_uid} kept changing; try again")

    async def standing(self, partner: Partner, token_uid: str, location_id: str
                       ) -> Standing:
        """Where the token stands at the location, without logging or counting a refusal."""
        now = self._clock()
        settings = self._policy.effective(location_id, partner)
        ban = await self.bans.get(partner, token_uid)
        no_shows = await self.records.of_token(partner, token_uid)
        counted = strikes(no_shows, settings.no_show_strikes, now,
                          ban.strikes_from if ban is not None else None)
        rate = settings.max_no_show_rate
        counts = await self.counts.window(partner, now, rate.within_days)
        refusal = ban_refusal(ban, now)
        if refusal is None and rate.enabled:
            refusal = rate_refusal(partner, counts, rate)
        return Standing(ban, tuple(no_shows), tuple(counted), counts, refusal)
