"""One published Location, two OCPI versions: 2.3.0 gets all of it, 2.2.1 the 2.2.1 form (the
fields it cannot hold left out, SAE_J3400 as TESLA_S, an MCS-only EVSE left out); GETs and
pushes both, every body validated against that version's official schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog, LocationsConfigError, parse_locations
from ocpi_gateway.locations.handlers import LocationsSender
from ocpi_gateway.locations.publisher import LocationsPublisher, Receiver
from ocpi_gateway.ocpi import package
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from tests.locations.conftest import Receiver as Peer
from tests.openapi import validate_gateway_response

LOCATION = "LOC-AFIR"


def _connector(cid: str, ocpp_id: int, standard: str, **extra: Any) -> dict[str, Any]:
    return {"id": cid, "ocpp_connector_id": ocpp_id, "standard": standard, "format": "CABLE",
            "power_type": "DC", "max_voltage": 920, "max_amperage": 500, **extra}


def afir_location() -> dict[str, Any]:
    return {
        "country_code": "NL", "party_id": "EXA", "id": LOCATION, "address": "Snelweg 1",
        "city": "Utrecht", "country": "NLD", "time_zone": "Europe/Amsterdam",
        "coordinates": {"latitude": "52.090000", "longitude": "5.120000"},
        "help_phone": "+31301234567",
        "parking_places": [{"id": "P1", "vehicle_types": ["PERSONAL_VEHICLE", "VAN"],
                            "restricted_to_type": False, "reservation_required": False}],
        "evses": [
            {"uid": "E1", "charge_point_id": "CP-1",
             "capabilities": ["RESERVABLE", "REMOTE_START_STOP_CAPABLE"],
             "parking": [{"parking_id": "P1", "evse_position": "LEFT"}],
             "accepted_service_providers": ["DE*EMS"],
             "parking_restrictions": ["EV_ONLY", "TAXIS"],
             "connectors": [
                 _connector("1", 1, "IEC_62196_T2_COMBO",
                            capabilities=["ISO_15118_2_PLUG_AND_CHARGE"]),
                 _connector("2", 2, "SAE_J3400")]},
            {"uid": "E2", "charge_point_id": "CP-1", "connectors": [_connector("1", 3, "MCS")]},
        ]}


@pytest.fixture
def catalog() -> LocationsCatalog:
    return LocationsCatalog(parse_locations({"locations": [afir_location()]}))


@pytest.fixture
async def client(aiohttp_client: Any, catalog: LocationsCatalog,
                 ) -> AsyncIterator[TestClient[Any, Any]]:
    publisher = LocationsPublisher(catalog, MemoryAvailability())
    await publisher.start()
    sender = LocationsSender(publisher)
    app = web.Application()
    for version in ("2.2.1", "2.3.0"):
        app.add_routes(sender.routes(f"/ocpi/{version}/locations", version))
    yield await aiohttp_client(app)
    await publisher.stop()


async def get(client: TestClient[Any, Any], path: str) -> tuple[int, Any]:
    resp = await client.get(path)
    body = await resp.json()
    validate_gateway_response("GET", resp.url.path, body, http_status=resp.status)
    return resp.status, body


def test_locations_yaml_expresses_the_2_3_0_fields(catalog: LocationsCatalog) -> None:
    location = catalog.get(LOCATION)
    assert location is not None and location.help_phone == "+31301234567"
    evse = location.evses[0]
    assert evse.parking[0].parking_id == "P1" and evse.accepted_service_providers == ["DE*EMS"]
    assert [c.standard.value for c in location.evses[1].connectors] == ["MCS"]
    broken = afir_location()
    broken["evses"][0]["parking"] = [{"parking_id": "P9"}]
    with pytest.raises(LocationsConfigError, match="P9"):
        parse_locations({"locations": [broken]})


async def test_2_3_0_gets_everything(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, f"/ocpi/2.3.0/locations/{LOCATION}")
    data = body["data"]
    assert status == 200 and data["help_phone"] == "+31301234567"
    assert data["parking_places"][0]["vehicle_types"] == ["PERSONAL_VEHICLE", "VAN"]
    e1, e2 = data["evses"]
    assert e1["parking"] == [{"parking_id": "P1", "evse_position": "LEFT"}]
    assert e1["accepted_service_providers"] == ["DE*EMS"]
    assert e1["parking_restrictions"] == ["EV_ONLY", "TAXIS"]
    assert [c["standard"] for c in e1["connectors"]] == ["IEC_62196_T2_COMBO", "SAE_J3400"]
    assert e1["connectors"][0]["capabilities"] == ["ISO_15118_2_PLUG_AND_CHARGE"]
    assert [c["standard"] for c in e2["connectors"]] == ["MCS"]
    assert all("charge_point_id" not in e and "ocpp_evse_id" not in e for e in data["evses"])
    status, body = await get(client, f"/ocpi/2.3.0/locations/{LOCATION}/E2/1")
    assert status == 200 and body["data"]["standard"] == "MCS"


async def test_2_2_1_gets_the_2_2_1_form(client: TestClient[Any, Any]) -> None:
    status, body = await get(client, f"/ocpi/2.2.1/locations/{LOCATION}")
    data = body["data"]
    assert status == 200
    assert "help_phone" not in data and "parking_places" not in data
    [e1] = data["evses"]  # E2 has only an MCS connector, which 2.2.1 cannot name
    assert "parking" not in e1 and "accepted_service_providers" not in e1
    assert e1["parking_restrictions"] == ["EV_ONLY"]
    assert [c["standard"] for c in e1["connectors"]] == ["IEC_62196_T2_COMBO", "TESLA_S"]
    assert all("capabilities" not in c for c in e1["connectors"])
    status, body = await get(client, f"/ocpi/2.2.1/locations/{LOCATION}/E2")
    assert status == 404 and body["status_code"] == 2003
    status, body = await get(client, "/ocpi/2.2.1/locations")
    assert [e["uid"] for e in body["data"][0]["evses"]] == ["E1"]
    status, body = await get(client, "/ocpi/2.3.0/locations")
    assert [e["uid"] for e in body["data"][0]["evses"]] == ["E1", "E2"]


async def test_pushes_in_each_partners_version(
    receiver: Peer, doc_store: DocumentStore, catalog: LocationsCatalog
) -> None:
    outbox = DeliveryEngine(doc_store, _token, policy=DeliveryPolicy(timeout=2.0,
                                                                     base_backoff=0.01))

    async def receivers() -> list[Receiver]:
        return [Receiver("old", receiver.url, version="2.2.1"),
                Receiver("new", receiver.url_for("2.3.0"), version="2.3.0")]

    publisher = LocationsPublisher(catalog, MemoryAvailability(), store=doc_store,
                                   outbox=outbox, receivers=receivers)
    await outbox.start()
    await publisher.start()
    try:
        for connector in (1, 3):  # E1 and E2 become AVAILABLE
            await publisher.on_event(ConnectorStatusChanged(
                charge_point_id="CP-1", evse_id=None, connector_id=connector,
                status=ConnectorStatus.AVAILABLE))
        await publisher.settle()
        assert await outbox.drain(5)
    finally:
        await outbox.stop()
        await publisher.stop()
    puts = {r.path.split("/")[3]: r.body for r in receiver.of("PUT")}
    assert puts["2.3.0"]["help_phone"] == "+31301234567"
    assert "help_phone" not in puts["2.2.1"]
    assert [e["uid"] for e in puts["2.2.1"]["evses"]] == ["E1"]
    patched = sorted((r.path.split("/")[3], r.path.rsplit("/", 1)[-1])
                     for r in receiver.of("PATCH"))
    # No PATCH of E2 to the 2.2.1 partner: it was never given that EVSE.
    assert patched == [("2.2.1", "E1"), ("2.3.0", "E1"), ("2.3.0", "E2")]


async def _token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}


async def test_each_body_is_built_once_per_version_not_per_partner(
    receiver: Peer, doc_store: DocumentStore, catalog: LocationsCatalog, monkeypatch: Any
) -> None:
    """Three partners, two of them on 2.2.1: every PUT and PATCH body is built once for each
    version in use, then queued for every partner of that version."""
    built: list[tuple[str, str]] = []
    for version in ("2.2.1", "2.3.0"):
        mapping = package(version).locations
        for name in ("location", "evse_patch"):
            original = getattr(mapping, name)

            def counted(*args: Any, _v: str = version, _n: str = name,
                        _o: Any = original) -> Any:
                built.append((_v, _n))
                return _o(*args)
            monkeypatch.setattr(mapping, name, counted)
    outbox = DeliveryEngine(doc_store, _token, policy=DeliveryPolicy(timeout=2.0,
                                                                     base_backoff=0.01))

    async def receivers() -> list[Receiver]:
        return [Receiver("old-1", receiver.url, version="2.2.1", to_party=("DE", "AAA")),
                Receiver("old-2", receiver.url, version="2.2.1", to_party=("DE", "BBB")),
                Receiver("new", receiver.url_for("2.3.0"), version="2.3.0")]

    publisher = LocationsPublisher(catalog, MemoryAvailability(), store=doc_store,
                                   outbox=outbox, receivers=receivers)
    await outbox.start()
    await publisher.start()
    try:
        assert sorted(built) == [("2.2.1", "location"), ("2.3.0", "location")]
        built.clear()
        await publisher.on_event(ConnectorStatusChanged(
            charge_point_id="CP-1", evse_id=None, connector_id=1,
            status=ConnectorStatus.AVAILABLE))
        await publisher.settle()
        assert sorted(built) == [("2.2.1", "evse_patch"), ("2.3.0", "evse_patch")]
        assert await outbox.drain(5)
    finally:
        await outbox.stop()
        await publisher.stop()
    assert len(receiver.of("PUT")) == 3 and len(receiver.of("PATCH")) == 3
