"""The engine's own typed inputs: candidates at a location and a reservation request.

The OCPI side adapts its Location/EVSE models into these, so that the policy never depends on
OCPI objects and stays testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ocpi_gateway.domain.ids import ChargerAddress


@dataclass(frozen=True, slots=True)
class ConnectorInfo:
    standard: str
    """OCPI ConnectorType, e.g. ``IEC_62196_T2`` or ``IEC_62196_T2_COMBO``."""
    power_w: int
    power_type: str = ""
    """OCPI PowerType (``AC_3_PHASE``, ``DC``...); empty when unknown (any power type)."""
    format: str = ""
    """OCPI ConnectorFormat (``SOCKET``, ``CABLE``); empty when unknown."""


@dataclass(frozen=True, slots=True)
class EvseCandidate:
    location_id: str
    evse_uid: str
    charge_point_id: str
    address: ChargerAddress
    """Where ReserveNow goes for this EVSE (1.6: connector id; 2.0.1: evse id)."""
    reservable: bool
    connectors: tuple[ConnectorInfo, ...]
    charger_can_reserve_whole: bool = False
    """1.6 ReserveConnectorZeroSupported / 2.0.1 ReservationNonEvseSpecific on its charger."""
    max_power_w: int = field(init=False, compare=False)
    power_by_standard: dict[str, int] = field(init=False, compare=False, repr=False)
    """Best power per connector standard; computed once, since every decision reads it."""

    def connector_kind(self, standard: str | None) -> tuple[str | None, str | None]:
        """What a ReserveNow of this EVSE's whole charger says of the connector to keep free
        (2.0.1 ``connectorType``): ``standard`` and the format of this EVSE's connector of
        that standard; (None, None) when no one standard is wanted. Several wanted
        standards name none: one type would hold the driver to it."""
        for c in self.connectors:
            if standard is not None and c.standard == standard:
                return standard, c.format or None
        return None, None

    def __post_init__(self) -> None:
        by_standard: dict[str, int] = {}
        for c in self.connectors:
            by_standard[c.standard] = max(by_standard.get(c.standard, 0), c.power_w)
        object.__setattr__(self, "power_by_standard", by_standard)
        object.__setattr__(self, "max_power_w", max(by_standard.values(), default=0))


@dataclass(frozen=True, slots=True)
class Partner:
    """An eMSP role, the scope of its reservation ids and of its cap."""

    country_code: str
    party_id: str

    @property
    def key(self) -> str:
        return f"{self.country_code.upper()}-{self.party_id.upper()}"


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    location_id: str
    evse_uid: str | None
    partner: Partner
    token_uid: str
    expiry: datetime
    token_type: str = "ISO14443"
    group_id_token: str | None = None
    connector_standard: str | None = None
    min_power_w: int | None = None
    whole_charger_allowed: bool = True
    """False keeps a re-route of an EVSE-specific request on single EVSEs (``evse_uid`` is
    None there: any other EVSE of the location will do)."""
    grace: timedelta = timedelta(0)
    """The policy's ``grace_minutes``: the EVSE stays held, and the charger's reservation
    valid, this long past ``expiry`` (the eMSP's) before it counts as a no-show."""
    booking_key: str | None = None
    """The late binding of this booking: its terms were checked when it was booked (no
    duration, cap or ban check), its promise on the capacity timeline moves onto the EVSE
    held (no second promise), and the walk-in reserve was kept when it was admitted."""

    @property
    def ends_at(self) -> datetime:
        """When the EVSE is given back: the expiry and the grace period after it."""
        return self.expiry + self.grace

    def __post_init__(self) -> None:
        # OCPI DateTimes are UTC; a naive one would be read as local time by timestamp().
        if self.expiry.tzinfo is None:
            object.__setattr__(self, "expiry", self.expiry.replace(tzinfo=UTC))
