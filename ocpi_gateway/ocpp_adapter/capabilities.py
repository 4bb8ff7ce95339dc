"""What a charger says of its reservation support, read from it when it connects instead of
trusting only ``chargers.yaml``:

- reserves at all: 1.6 ``SupportedFeatureProfiles`` lists ``Reservation``; 2.0.1
  ``ReservationCtrlr.Available`` and ``.Enabled`` true;
- reserves the whole charger: 1.6 ``ReserveConnectorZeroSupported`` true (absent from a
  charger that lists its profiles: no);
  2.0.1 ``ReservationCtrlr.NonEvseSpecific`` true.

A 2.0.1 station without a ReservationCtrlr (UnknownComponent) does not reserve. What the
charger leaves unsaid (a failed read, a 1.6 charger without SupportedFeatureProfiles) is
None: the gateway then keeps to ``chargers.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocpi_gateway.domain.charger_commands import (
    ChargerCommand,
    ChargerQueries,
    CommandOutcome,
    CommandReply,
    GetConfiguration,
    GetVariables,
    SettingResult,
    VariableRef,
)

V16_KEYS = ("SupportedFeatureProfiles", "ReserveConnectorZeroSupported")
CONTROLLER = "ReservationCtrlr"
V201_VARIABLES = ("Available", "Enabled", "NonEvseSpecific")


@dataclass(frozen=True, slots=True)
class ReservationCapabilities:
    can_reserve: bool | None
    """Whether the charger takes ReserveNow at all; None: it did not say."""
    whole_charger: bool | None
    """Whether it takes a reservation of no particular EVSE (1.6 connector 0, 2.0.1 no
    evseId); None: it did not say."""

    def to_doc(self) -> dict[str, Any]:
        return {"can_reserve": self.can_reserve, "whole_charger": self.whole_charger}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ReservationCapabilities:
        return cls(doc.get("can_reserve"), doc.get("whole_charger"))


def query(charge_point_id: str, version: str) -> ChargerCommand:
    """The read to send to a charger of that OCPP version."""
    if version == "1.6":
        return GetConfiguration(charge_point_id=charge_point_id, keys=V16_KEYS)
    return GetVariables(charge_point_id=charge_point_id, variables=tuple(
        VariableRef(component=CONTROLLER, variable=name) for name in V201_VARIABLES))


def _flag(setting: SettingResult | None) -> bool | None:
    if setting is None or setting.status != "Accepted" or setting.value is None:
        return None
    return setting.value.strip().casefold() == "true"


def parse(version: str, reply: CommandReply) -> ReservationCapabilities | None:
    """The capabilities an answer says; None when the read failed (nothing learnt)."""
    if reply.outcome is not CommandOutcome.ACCEPTED:
        return None
    by_key = {s.key: s for s in reply.settings}
    if version == "1.6":
        profiles = by_key.get("SupportedFeatureProfiles")
        can: bool | None = None
        if profiles is not None and profiles.status == "Accepted" and profiles.value:
            can = "reservation" in {p.strip().casefold() for p in profiles.value.split(",")}
        zero = by_key.get("ReserveConnectorZeroSupported")
        whole = _flag(zero)
        if whole is None and can is not None:
            whole = False  # a charger that lists its profiles and not this key: no (§9.1.14)
        return ReservationCapabilities(can, False if can is False else whole)
    settings = [s for s in reply.settings if s.component in (CONTROLLER, None)]
    found = {s.key: s for s in settings}
    if settings and all(s.status == "UnknownComponent" for s in settings):
        # No reservation controller at all: the station does not reserve.
        return ReservationCapabilities(False, False)
    available, enabled = _flag(found.get("Available")), _flag(found.get("Enabled"))
    if available is False or enabled is False:
        can = False
    elif available is None and enabled is None:
        can = None
    else:
        can = True
    non_evse = _flag(found.get("NonEvseSpecific"))
    return ReservationCapabilities(can, False if can is False else non_evse)


async def read(queries: ChargerQueries, charge_point_id: str, version: str,
               timeout: float) -> ReservationCapabilities | None:  # noqa: ASYNC109
    """Ask the charger; None when it gave no usable answer."""
    return parse(version, await queries.ask(query(charge_point_id, version), timeout))
