"""A whole gateway for Sessions and CDRs tests: real chargers (OCPP 1.6 and 2.0.1 over
websockets), a registered eMSP peer with Sessions and CDRs receivers (every body it gets
validated against the official OpenAPI of its version), a tariff on every connector, and a
clock the test moves."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from ocpi_gateway.sessions.extension import SESSIONS
from ocpi_gateway.sessions.models import Session
from tests.commands.support import (
    CP16,
    CP201,
    World,
    eventually,
    locations_doc,
    open_world,
    policy_doc,
)

EMSP_MODULES = ("credentials", "locations", "commands", "tokens", "sessions", "cdrs")
VERSIONS = ("2.2.1", "2.3.0")


class Clock:
    """The gateway's clock: time passes only when the test moves it. It starts at the wall
    clock's present (whole seconds): the chargers' and the availability store's times stay
    near it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def z(self, **offset: float) -> str:
        """An OCPP / OCPI timestamp ``offset`` from now."""
        moment = self.now + timedelta(**offset)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def tariffs_doc() -> dict[str, Any]:
    """T1: 0.30/kWh, 2.00/h charging (per minute), reservations 1.20/h (per minute), and a
    5.00 no-show fee; 21 % VAT on every component."""
    return {"tariffs": [{
        "id": "T1", "currency": "EUR", "elements": [
            {"price_components": [{"type": "ENERGY", "price": "0.30", "vat": 21,
                                   "step_size": 1}]},
            {"price_components": [{"type": "TIME", "price": "2.00", "vat": 21,
                                   "step_size": 60}]},
            {"price_components": [{"type": "FLAT", "price": "5.00", "vat": 21,
                                   "step_size": 0}],
             "restrictions": {"reservation": "RESERVATION_EXPIRES"}},
            {"price_components": [{"type": "TIME", "price": "1.20", "vat": 21,
                                   "step_size": 60}],
             "restrictions": {"reservation": "RESERVATION"}},
        ]}]}


def priced_locations() -> dict[str, Any]:
    doc = copy.deepcopy(locations_doc())
    for location in doc["locations"]:
        for evse in location["evses"]:
            for connector in evse["connectors"]:
                connector["tariff_ids"] = ["T1"]
    return doc


async def open_session_world(tmp_path: Path, clock: Clock, *, version: str = "2.2.1",
                             policy: dict[str, Any] | None = None,
                             tariffs: dict[str, Any] | None = None,
                             emsp_modules: tuple[str, ...] = EMSP_MODULES) -> World:
    # No test here waits for a charger that does not answer: the bound only has to outlast a
    # loaded machine (1 s, the commands tests' bound, turned a START_SESSION into a TIMEOUT).
    return await open_world(tmp_path, ocpi_version=version, locations=priced_locations(),
                            tariffs=tariffs or tariffs_doc(), policy=policy or policy_doc(),
                            emsp_modules=emsp_modules, clock=clock, charger_seconds=5.0,
                            result_seconds=10)


@dataclass
class Pushed:
    """The Session the eMSP holds, read from its receiver."""

    world: World

    def get(self, session_id: str) -> dict[str, Any] | None:
        found = self.world.emsp.sessions.get(session_id)
        return dict(found) if found else None

    async def one(self, status: str | None = None, within: float = 30.0) -> dict[str, Any]:
        """The single session the eMSP holds (in ``status``, when given)."""
        def match() -> dict[str, Any] | None:
            held = list(self.world.emsp.sessions.values())
            if len(held) == 1 and (status is None or held[0]["status"] == status):
                return dict(held[0])
            return None
        found = await eventually(match, within)
        assert found, (status, self.world.emsp.sessions)
        return dict(found)


async def stored(world: World, session_id: str) -> Session | None:
    return await world.gateway.app[SESSIONS].get(session_id)


async def start16(world: World, clock: Clock, *, connector: int = 1, id_tag: str = "DEEMS0001",
                  meter_start: int = 0, reservation_id: int | None = None) -> int:
    """A 1.6 StartTransaction at ``clock``'s now; the transaction id."""
    started = await world.chargers[CP16].charger.call(call16.StartTransaction(
        connector_id=connector, id_tag=id_tag, meter_start=meter_start, timestamp=clock.z(),
        reservation_id=reservation_id))
    return int(started.transaction_id)


async def meter16(world: World, clock: Clock, transaction_id: int, wh: int,
                  connector: int = 1) -> None:
    await world.chargers[CP16].charger.call(call16.MeterValues(
        connector_id=connector, transaction_id=transaction_id, meter_value=[{
            "timestamp": clock.z(), "sampled_value": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register",
                 "unit": "Wh"}]}]))


async def stop16(world: World, clock: Clock, transaction_id: int, wh: int) -> None:
    await world.chargers[CP16].charger.call(call16.StopTransaction(
        transaction_id=transaction_id, meter_stop=wh, timestamp=clock.z()))


async def event201(world: World, clock: Clock, event_type: str, transaction_id: str, *,
                   seq_no: int, kwh: float | None = None, evse: int = 1,
                   id_tag: str | None = "DEEMS0001", reservation_id: int | None = None,
                   trigger: str = "Authorized", charging_state: str | None = None) -> None:
    """A 2.0.1 TransactionEvent at ``clock``'s now (energy in kWh: the unit handling)."""
    meter = None
    if kwh is not None:
        meter = [{"timestamp": clock.z(), "sampled_value": [
            {"value": kwh, "measurand": "Energy.Active.Import.Register",
             "unit_of_measure": {"unit": "kWh"}}]}]
    await world.chargers[CP201].charger.call(call201.TransactionEvent(
        event_type=event_type, timestamp=clock.z(), trigger_reason=trigger, seq_no=seq_no,
        transaction_info={"transaction_id": transaction_id,
                          **({"charging_state": charging_state} if charging_state else {})},
        evse={"id": evse, "connector_id": 1},
        id_token={"id_token": id_tag, "type": "ISO14443"} if id_tag else None,
        reservation_id=reservation_id, meter_value=meter))


@dataclass
class Rig:
    """A session world and its clock."""

    world: World
    clock: Clock

    @property
    def emsp_sessions(self) -> dict[str, Any]:
        return self.world.emsp.sessions


async def open_rig(tmp_path: Path, version: str, **options: Any) -> Rig:
    clock = Clock()
    return Rig(await open_session_world(tmp_path, clock, version=version, **options), clock)
