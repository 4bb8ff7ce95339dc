"""Sites where walk-ins are refused (``policy.yaml`` ``locations.<id>.reservation_only:
true``): their chargers authorize only the tokens of a reservation or booking there.

A token is admitted at such a site when a live reservation there is for it, or a booking
there (RESERVED, or FULFILLED by this very charge) whose use window ``[start - early start,
start + no-show timeout]`` holds now. Whoever else presents a card gets ``Invalid`` (logged
``walk_in_refused``), whatever the eMSP would have said. Elsewhere the inner authorizer
decides alone.

A token once admitted at a charger stays admitted there for ``remember``: the reservation
is used (no longer live) when its transaction starts, and the charger asks again for the same
token on StartTransaction, TransactionEvent and StopTransaction; refusing those would stop a
charge the driver was entitled to begin. The charger's authorizations reach the instance it is
connected to, so remembering per instance is enough.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.authorization import (
    AuthorizationDecision,
    AuthorizationStatus,
    TokenAuthorizer,
)
from ocpi_gateway.domain.ids import presents
from ocpi_gateway.reservation_policy.bookings.fulfilment import admits
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.records import Reservation

log = structlog.get_logger(__name__)

REMEMBER = timedelta(hours=24)
MAX_REMEMBERED = 10_000

LocationsOf = Callable[[str], Sequence[str]]
"""A charge point id → the locations its EVSEs belong to."""
LiveReservations = Callable[[str], Awaitable[Sequence[Reservation]]]
NearBookings = Callable[[str, datetime], Awaitable[Sequence[Booking]]]


class ReservationOnlyAuthorizer:
    def __init__(self, inner: TokenAuthorizer, *, reservation_only: Callable[[str], bool],
                 locations_of: LocationsOf, reservations: LiveReservations,
                 bookings: NearBookings, clock: Callable[[], datetime],
                 remember: timedelta = REMEMBER, max_remembered: int = MAX_REMEMBERED
                 ) -> None:
        self._inner = inner
        self._reservation_only = reservation_only
        self._locations_of = locations_of
        self._reservations = reservations
        self._bookings = bookings
        self._clock = clock
        self._remember = remember
        self._max_remembered = max_remembered
        self._admitted: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        decision = await self._inner.authorize(charge_point_id, id_token)
        if not decision.accepted:
            return decision
        sites = self._locations_of(charge_point_id)
        if not any(self._reservation_only(site) for site in sites):
            return decision
        now = self._clock()
        key = (charge_point_id, id_token.casefold())
        if any([await self._reserved(site, id_token, now) for site in sites]):
            self._admitted[key] = now + self._remember
            self._admitted.move_to_end(key)
            while len(self._admitted) > self._max_remembered:
                self._admitted.popitem(last=False)
            return decision
        until = self._admitted.get(key)
        if until is not None and until > now:
            return decision
        self._admitted.pop(key, None)
        log.info("walk_in_refused", charge_point_id=charge_point_id, location_ids=list(sites))
        return AuthorizationDecision(status=AuthorizationStatus.INVALID,
                                     group_id=decision.group_id)

    async def refuses(self, location_id: str, token_uid: str) -> bool:
        """Whether a charge of ``token_uid`` at the location would be a walk-in it refuses
        (START_SESSION is answered at once: many chargers do not authorize a remote start)."""
        return (self._reservation_only(location_id)
                and not await self._reserved(location_id, token_uid, self._clock()))

    async def _reserved(self, location_id: str, id_token: str, now: datetime) -> bool:
        if any(presents(r.token_uid, id_token)
               for r in await self._reservations(location_id)):
            return True
        return any(admits(b, id_token, now) for b in await self._bookings(location_id, now))
