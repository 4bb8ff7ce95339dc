"""A whole gateway with real parts for end-to-end command tests: the app on loopback, a
registered eMSP peer receiving CommandResults, and OCPP 1.6 / 2.0.1 chargers over websockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201

from ocpi_gateway.locations.extension import AVAILABILITY
from ocpi_gateway.partners.grants import Grants
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.ocpp.ocpp_test_support import (
    PASSWORD_HASH,
    Behaviour,
    Charger16,
    Charger201,
    ChargerFactory,
    ClientConnection,
    Connected,
)
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

LOCATION = "LOC-1"
CP16 = "CP-16"
CP201 = "CP-201"


def _connector(cid: str, ocpp_id: int, standard: str = "IEC_62196_T2",
               power: int = 22000) -> dict[str, Any]:
    return {"id": cid, "ocpp_connector_id": ocpp_id, "standard": standard, "format": "SOCKET",
            "power_type": "AC_3_PHASE", "max_voltage": 230, "max_amperage": 32,
            "max_electric_power": power}


def locations_doc() -> dict[str, Any]:
    """LOC-1: E1, E2 on the 1.6 charger (connectors 1, 2), E3 on the 2.0.1 charger (evse 1).
    LOC-2: E4 on the 2.0.1 charger (evse 2), not reservable."""
    reservable = ["RESERVABLE", "REMOTE_START_STOP_CAPABLE", "UNLOCK_CAPABLE"]
    base = {"country_code": "NL", "party_id": "EXA", "address": "Teststraat 1",
            "city": "Amsterdam", "country": "NLD", "time_zone": "Europe/Amsterdam",
            "coordinates": {"latitude": "52.300000", "longitude": "4.800000"}}
    return {"locations": [
        {**base, "id": LOCATION, "evses": [
            {"uid": "E1", "charge_point_id": CP16, "capabilities": reservable,
             "connectors": [_connector("1", 1)]},
            {"uid": "E2", "charge_point_id": CP16, "capabilities": reservable,
             "connectors": [_connector("1", 2)]},
            {"uid": "E3", "charge_point_id": CP201, "ocpp_evse_id": 1,
             "capabilities": [*reservable, "START_SESSION_CONNECTOR_REQUIRED"],
             "connectors": [_connector("1", 1, "IEC_62196_T2_COMBO", 150000)]},
        ]},
        {**base, "id": "LOC-2", "evses": [
            {"uid": "E4", "charge_point_id": CP201, "ocpp_evse_id": 2,
             "capabilities": ["REMOTE_START_STOP_CAPABLE"],
             "connectors": [_connector("1", 1)]},
        ]},
    ]}


def policy_doc(**defaults: Any) -> dict[str, Any]:
    return {"defaults": {"enabled": True, "min_duration_minutes": 1,
                         "max_duration_minutes": 120, "walk_in_reserve": 0,
                         "max_concurrent_per_emsp": 50,
                         "ordering": ["spread_across_chargers", "least_recently_reserved"],
                         **defaults}}


def chargers_doc() -> dict[str, Any]:
    return {"chargers": [
        {"id": CP16, "ocpp_version": "1.6", "password_hash": PASSWORD_HASH},
        {"id": CP201, "ocpp_version": "2.0.1", "password_hash": PASSWORD_HASH},
    ]}


def write_configs(tmp_path: Path, policy: dict[str, Any] | None = None, *,
                  locations: dict[str, Any] | None = None,
                  tariffs: dict[str, Any] | None = None,
                  chargers: dict[str, Any] | None = None) -> dict[str, Any]:
    files = {"locations_file": locations or locations_doc(),
             "policy_file": policy or policy_doc(), "chargers_file": chargers or chargers_doc()}
    if tariffs is not None:
        files["tariffs_file"] = tariffs
    paths: dict[str, Any] = {}
    for key, doc in files.items():
        path = tmp_path / f"{key}.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        paths[key] = path
    return paths


class Charger16WithUnlock(Charger16):
    @on(Action16.unlock_connector)
    async def on_unlock_connector(self, **payload: Any) -> Any:
        await self.behaviour.answer("UnlockConnector", payload)
        return result16.UnlockConnector(status=self.behaviour.unlock)


def token(uid: str = "DEEMS0001", **overrides: Any) -> dict[str, Any]:
    return {"country_code": "DE", "party_id": "EMS", "uid": uid, "type": "RFID",
            "contract_id": "DE-EMS-C00000001-X", "issuer": "Test eMSP", "valid": True,
            "whitelist": "ALWAYS", "last_updated": "2026-11-23T10:00:00Z", **overrides}


def in_minutes(minutes: float) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def eventually(condition: Callable[[], Any], within: float = 30.0) -> Any:
    """Poll a sync or async condition until truthy; returns its last value. ``within`` only
    guards against a hang (a loaded machine is slow, not wrong): never prove an absence with
    it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = condition()
        if asyncio.iscoroutine(value) or isinstance(value, Awaitable):
            value = await value
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


@dataclass
class World:
    gateway: RunningGateway
    emsp: EmspPeer
    http: aiohttp.ClientSession
    factory: ChargerFactory
    chargers: dict[str, Connected] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.gateway.url.replace("http://", "ws://") + "/ocpp"

    async def connect(self, cp_id: str, behaviour: Behaviour | None = None,
                      charger_class: type | None = None, **attributes: Any) -> Connected:
        """``charger_class``: another test charger; ``attributes`` are set on it before it
        boots (e.g. its ``ops``)."""
        version = "1.6" if cp_id == CP16 else "2.0.1"
        protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
        ws = await self.factory.ws(self.ws_url, cp_id, protocols=(protocol,))
        cls = charger_class or (Charger16WithUnlock if version == "1.6" else Charger201)
        # The gateway's answer to a charger's call only bounds a hang: on a loaded machine a
        # StatusNotification's answer took over 5 s.
        charger = cls(cp_id, ClientConnection(ws), response_timeout=30)
        charger.behaviour = behaviour or Behaviour()
        for name, value in attributes.items():
            setattr(charger, name, value)
        task = asyncio.create_task(charger.start())
        connected = Connected(charger, ws, task, charger.behaviour)
        self.factory.connected.append(connected)
        if version == "1.6":
            await connected.charger.call(call16.BootNotification(
                charge_point_model="Test16", charge_point_vendor="Tests"))
        else:
            await connected.charger.call(call201.BootNotification(
                charging_station={"model": "Test201", "vendor_name": "Tests"},
                reason="PowerUp"))
        self.chargers[cp_id] = connected
        return connected

    async def status(self, cp_id: str, connector: int, status: str,
                     evse: int | None = None) -> None:
        charger = self.chargers[cp_id].charger
        self.chargers[cp_id].behaviour.statuses[evse or connector] = status
        if cp_id == CP16:
            await charger.call(call16.StatusNotification(
                connector_id=connector, error_code="NoError", status=status))
        else:
            await charger.call(call201.StatusNotification(
                timestamp=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                connector_status=status, evse_id=evse or connector, connector_id=1))

    async def all_available(self) -> None:
        """Both chargers connected and every EVSE of LOC-1 and LOC-2 reporting Available."""
        await self.connect(CP16)
        await self.connect(CP201)
        await self.status(CP16, 1, "Available")
        await self.status(CP16, 2, "Available")
        await self.status(CP201, 1, "Available", evse=1)
        await self.status(CP201, 2, "Available", evse=2)
        assert await eventually(lambda: self.evse_statuses(LOCATION, {
            "E1": EvseStatus.AVAILABLE, "E2": EvseStatus.AVAILABLE,
            "E3": EvseStatus.AVAILABLE}))

    async def evse_statuses(self, location_id: str, expected: dict[str, EvseStatus]) -> bool:
        seen = await self.gateway.app[AVAILABILITY].location(location_id)
        return all(seen.get(uid) is not None and seen[uid].status is status
                   for uid, status in expected.items())

    async def command(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        status, reply, _ = await self.emsp.call(
            "POST", f"{self.gateway.url}/ocpi/{self.emsp.ocpi_version}/commands/{name}",
            json=body)
        assert status in (200, 400, 404), (status, reply)
        return dict(reply)

    async def result(self, name: str, within: float = 30.0) -> dict[str, Any]:
        """The first CommandResult POSTed to response_url(name)."""
        got = await eventually(lambda: self.emsp.command_results.get(name), within)
        assert got, f"no CommandResult at {name} within {within}s"
        return dict(got[0])

    def reserve_body(self, name: str, reservation_id: str = "R1", *,
                     evse_uid: str | None = None, minutes: float = 30,
                     location_id: str = LOCATION, **token_overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "response_url": self.emsp.response_url(name), "token": token(**token_overrides),
            "expiry_date": in_minutes(minutes), "reservation_id": reservation_id,
            "location_id": location_id}
        if evse_uid is not None:
            body["evse_uid"] = evse_uid
        return body

    def received(self, cp_id: str, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.chargers[cp_id].behaviour.received if a == action]

    def all_received(self, action: str) -> list[tuple[str, dict[str, Any]]]:
        return [(cp, p) for cp, c in self.chargers.items()
                for a, p in c.behaviour.received if a == action]


class MovableClock:
    """The gateway's time (``keys.CLOCK``) in a test: it starts at the moment it is made and
    moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def in_minutes(self, minutes: float) -> str:
        moment = self.now + timedelta(minutes=minutes)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def open_world(tmp_path: Path, *, policy: dict[str, Any] | None = None,
                     charger_seconds: float = 1.0, result_seconds: int = 4,
                     ocpi_version: str = "2.2.1", locations: dict[str, Any] | None = None,
                     tariffs: dict[str, Any] | None = None,
                     emsp_modules: tuple[str, ...] | None = None,
                     clock: Callable[[], datetime] | None = None,
                     chargers: dict[str, Any] | None = None, **overrides: Any) -> World:
    """``emsp_modules``: the eMSP's endpoints (default EmspPeer's); ``clock``: the
    gateway's; ``chargers``: the chargers file (default ``chargers_doc()``)."""
    settings = gateway_settings(
        tmp_path, **write_configs(tmp_path, policy, locations=locations, tariffs=tariffs,
                                  chargers=chargers),
        command_timeouts={"charger_seconds": charger_seconds,
                          "ocpi_result_seconds": result_seconds},
        instance_id="gw-test", **overrides)
    gateway = await start_gateway(settings, clock=clock)
    emsp = EmspPeer(versions=("2.2.1", "2.3.0"), ocpi_version=ocpi_version,
                    **({"modules": emsp_modules} if emsp_modules else {}))
    await emsp.start()
    _, token_a = await gateway.partners.invite("test emsp", emsp.grants())
    status, body = await emsp.register_with(gateway.versions_url, token_a)
    assert status == 200 and body["status_code"] == 1000, body
    http = aiohttp.ClientSession()
    return World(gateway, emsp, http, ChargerFactory(http))


async def grant_helpdesk(world: World) -> None:
    """The world's eMSP may unlock any connector (the operator's help-desk grant)."""
    [partner] = await world.gateway.partners.registered()
    await world.gateway.partners.grant(partner.id, Grants(helpdesk=True))


async def close_world(world: World) -> None:
    await world.factory.close()
    await world.http.close()
    await world.emsp.close()
    await world.gateway.stop()


def start_body(world: World, name: str, *, location_id: str = LOCATION,
               evse_uid: str | None = None, connector_id: str | None = None,
               **token_overrides: Any) -> dict[str, Any]:
    """A START_SESSION body whose result lands at response_url(name)."""
    body: dict[str, Any] = {"response_url": world.emsp.response_url(name),
                            "token": token(**token_overrides), "location_id": location_id}
    if evse_uid is not None:
        body["evse_uid"] = evse_uid
    if connector_id is not None:
        body["connector_id"] = connector_id
    return body


def unlock_body(world: World, name: str, evse_uid: str, connector_id: str = "1",
                location_id: str = LOCATION) -> dict[str, Any]:
    return {"response_url": world.emsp.response_url(name), "location_id": location_id,
            "evse_uid": evse_uid, "connector_id": connector_id}
