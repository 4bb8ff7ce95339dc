"""The Tariffs SENDER inside the real gateway app, with loopback eMSP peers on 2.2.1 and
2.3.0: tariffs.yaml read and checked (errors naming file, tariff and key; connectors naming
an unknown tariff refused), GET {tariffs} paginated in both versions (every answer validated
against the official OpenAPI by the peer), tariffs meant for some partners only, and pushes
(PUT, DELETE) to the partners' Tariffs receivers on reload (at startup and registration:
test_tariffs_pushes.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ocpi_gateway.config import ConfigError
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.tariffs.catalog import TariffsConfigError, load_tariffs_file
from ocpi_gateway.tariffs.extension import TARIFFS
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

EXTENSIONS = ["ocpi_gateway.deliveries.app:install", "ocpi_gateway.locations.extension:install",
              "ocpi_gateway.tariffs.extension:install",
              "ocpi_gateway.admin.extension:install"]
MODULES = ("credentials", "locations", "tariffs")

TARIFFS_YAML = """\
tariffs:
  - id: AC-STANDARD
    currency: EUR
    last_updated: "2026-01-10T08:00:00Z"
    elements:
      - price_components:
          - {type: ENERGY, price: 0.35, vat: 21, step_size: 1}
      - price_components:
          - {type: TIME, price: 3.00, vat: 21, step_size: 60}
        restrictions: {reservation: RESERVATION}
  - id: DC-FAST
    currency: EUR
    tax_included: "YES"
    last_updated: "2026-02-10T08:00:00Z"
    min_price: {before_taxes: 1.00, after_taxes: 1.21}
    elements:
      - price_components:
          - {type: ENERGY, price: 0.605, vat: 21, step_size: 1}
      - price_components:
          - {type: FLAT, price: 5.00, vat: 21, step_size: 1}
        restrictions: {booking: BOOKING_EXPIRES}
  - id: FLEET-ONLY
    currency: EUR
    partners: ["DE*FLT"]
    last_updated: "2026-03-10T08:00:00Z"
    elements:
      - price_components:
          - {type: ENERGY, price: 0.20, step_size: 1}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def register(gateway: RunningGateway, peer: EmspPeer) -> EmspPeer:
    await peer.start()
    _partner, token_a = await gateway.partners.invite("eMSP", peer.grants())
    status, body = await peer.register_with(gateway.versions_url, token_a)
    assert status == 200, body
    return peer


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    tariffs = write(tmp_path / "tariffs.yaml", TARIFFS_YAML)
    settings = gateway_settings(tmp_path, locations_file=EXAMPLE, tariffs_file=tariffs,
                                admin_token="adm1n")
    running = await start_gateway(settings, extensions=EXTENSIONS)
    yield running
    await running.stop()


@pytest.fixture
async def peers(gateway: RunningGateway) -> AsyncIterator[dict[str, EmspPeer]]:
    old = await register(gateway, EmspPeer(modules=MODULES))
    new = await register(gateway, EmspPeer(party_id="NEW", modules=MODULES,
                                           versions=("2.3.0",), ocpi_version="2.3.0"))
    fleet = await register(gateway, EmspPeer(party_id="FLT", modules=MODULES))
    yield {"2.2.1": old, "2.3.0": new, "fleet": fleet}
    for peer in (old, new, fleet):
        await peer.close()


def test_file_errors_name_the_file_the_tariff_and_the_key(tmp_path: Path) -> None:
    bad = write(tmp_path / "tariffs.yaml", """\
tariffs:
  - id: T1
    currency: EUR
    elements:
      - price_components: [{type: ENERGY, price: -1, step_size: 1}]
  - id: T2
    currency: EUR
    elements:
      - price_components: [{type: ENERGY, price: 1, step_size: 1}]
        restrictions: {reservation: RESERVATION}
  - currency: EUR
    colour: red
    elements: []
""")
    with pytest.raises(TariffsConfigError) as raised:
        load_tariffs_file(bad)
    lines = str(raised.value).splitlines()
    assert f"{bad}: tariff 'T1': elements.0.price_components.0.price: " \
        "Input should be greater than or equal to 0" in lines
    assert any(line.startswith(f"{bad}: tariff 'T2': elements.0: ") and
               "only have FLAT and TIME" in line for line in lines)
    assert f"{bad}: tariff #3: id: Field required" in lines
    assert f"{bad}: tariff #3: colour: not a known key" in lines
    dupes = write(tmp_path / "dupes.yaml", "tariffs:\n" + 2 * (
        "  - {id: t1, currency: EUR, elements: [{price_components: "
        "[{type: FLAT, price: 0, step_size: 0}]}]}\n"))
    with pytest.raises(TariffsConfigError, match="tariff 'T1': id: appears 2 times"):
        load_tariffs_file(dupes)
    with pytest.raises(TariffsConfigError, match="not valid YAML"):
        load_tariffs_file(write(tmp_path / "broken.yaml", "tariffs: [\n"))
    with pytest.raises(TariffsConfigError, match="cannot read"):
        load_tariffs_file(tmp_path / "missing.yaml")


async def test_a_connector_naming_an_unknown_tariff_stops_the_start(tmp_path: Path) -> None:
    only_ac = write(tmp_path / "tariffs.yaml", TARIFFS_YAML.split("  - id: DC-FAST")[0])
    settings = gateway_settings(tmp_path, locations_file=EXAMPLE, tariffs_file=only_ac)
    with pytest.raises(ConfigError) as raised:
        await start_gateway(settings, extensions=EXTENSIONS)
    message = str(raised.value)
    assert "unknown tariff 'DC-FAST'" in message
    assert "locations.yaml: location 'NL-AMS-ZUIDAS': " \
        "evses[AMS-ZUIDAS-03].connectors[1].tariff_ids: " in message


async def test_versions_list_the_tariffs_sender_in_both_versions(
        gateway: RunningGateway, peers: dict[str, EmspPeer]) -> None:
    for version in ("2.2.1", "2.3.0"):
        status, body, _ = await peers[version].call("GET", f"{gateway.url}/ocpi/{version}")
        assert status == 200
        assert {"identifier": "tariffs", "role": "SENDER",
                "url": f"{gateway.url}/ocpi/{version}/tariffs"} in body["data"]["endpoints"]


async def test_get_tariffs_paginated_in_each_version(
        gateway: RunningGateway, peers: dict[str, EmspPeer]) -> None:
    for version in ("2.2.1", "2.3.0"):
        url = f"{gateway.url}/ocpi/{version}/tariffs"
        status, body, headers = await peers[version].call("GET", f"{url}?limit=1")
        assert status == 200 and body["status_code"] == 1000
        assert [t["id"] for t in body["data"]] == ["AC-STANDARD"]
        assert headers["X-Total-Count"] == "2" and headers["X-Limit"] == "100"
        assert headers["Link"] == f'<{url}?offset=1&limit=1>; rel="next"'
        status, body, headers = await peers[version].call("GET", f"{url}?offset=1&limit=1")
        assert [t["id"] for t in body["data"]] == ["DC-FAST"] and "Link" not in headers
        tariff = body["data"][0]
        assert (tariff["country_code"], tariff["party_id"]) == ("NL", "EXA")  # the CPO's
        assert tariff["last_updated"] == "2026-02-10T08:00:00.000Z"
    _, old, _ = await peers["2.2.1"].call("GET", f"{gateway.url}/ocpi/2.2.1/tariffs")
    _, new, _ = await peers["2.3.0"].call("GET", f"{gateway.url}/ocpi/2.3.0/tariffs")
    dc_old, dc_new = old["data"][1], new["data"][1]
    # 2.2.1: prices excluding VAT, no tax_included, no booking element, Price limits
    assert dc_old["elements"] == [{"price_components": [
        {"type": "ENERGY", "price": 0.5, "vat": 21.0, "step_size": 1}]}]
    assert "tax_included" not in dc_old
    assert dc_old["min_price"] == {"excl_vat": 1.0, "incl_vat": 1.21}
    # 2.3.0: as written, tax_included saying how; PriceLimit; the booking element kept
    assert dc_new["tax_included"] == "YES"
    assert dc_new["elements"][0]["price_components"][0]["price"] == 0.605
    assert dc_new["elements"][1]["restrictions"] == {"booking": "BOOKING_EXPIRES"}
    assert dc_new["min_price"] == {"before_taxes": 1.0, "after_taxes": 1.21}
    assert new["data"][0]["tax_included"] == "NO"


async def test_dates_filter_on_last_updated(gateway: RunningGateway,
                                            peers: dict[str, EmspPeer]) -> None:
    url = f"{gateway.url}/ocpi/2.2.1/tariffs"
    _, body, headers = await peers["2.2.1"].call(
        "GET", f"{url}?date_from=2026-02-01T00:00:00Z&date_to=2026-02-10T08:00:00Z")
    assert body["data"] == [] and headers["X-Total-Count"] == "0"  # date_to excluded
    _, body, _ = await peers["2.2.1"].call("GET", f"{url}?date_from=2026-02-10T08:00:00Z")
    assert [t["id"] for t in body["data"]] == ["DC-FAST"]  # date_from included
    _, body, _ = await peers["2.2.1"].call("GET", f"{url}?date_from=yesterday")
    assert body["status_code"] == 2001 and "date_from" in body["status_message"]
    _, body, _ = await peers["2.2.1"].call("GET", f"{url}?offset=-1")
    assert body["status_code"] == 2001


async def test_a_partner_sees_only_the_tariffs_meant_for_it(
        gateway: RunningGateway, peers: dict[str, EmspPeer]) -> None:
    url = f"{gateway.url}/ocpi/2.2.1/tariffs"
    _, body, _ = await peers["fleet"].call("GET", url)
    assert [t["id"] for t in body["data"]] == ["AC-STANDARD", "DC-FAST", "FLEET-ONLY"]
    assert "partners" not in body["data"][2]  # gateway-only field
    _, body, _ = await peers["2.2.1"].call("GET", url)
    assert "FLEET-ONLY" not in [t["id"] for t in body["data"]]
    # an eMSP claiming to be the fleet's party in the routing headers is refused, not served
    _, body, _ = await peers["2.2.1"].call("GET", url, headers={
        "OCPI-from-country-code": "DE", "OCPI-from-party-id": "FLT",
        "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EXA"})
    assert body["status_code"] != 1000
    assert "FLEET-ONLY" not in str(body)


async def test_reload_pushes_what_changed_and_deletes_what_went(
        gateway: RunningGateway, peers: dict[str, EmspPeer]) -> None:
    path = gateway.settings.tariffs_file
    assert path is not None
    # Each partner was sent its tariffs when it registered (test_tariffs_pushes.py); what
    # follows is what the reload adds.
    await gateway.app[TARIFFS].welcome_new_receivers()
    assert await gateway.app[OUTBOX].drain(10)
    for peer in peers.values():
        peer.received.clear()
    changed = TARIFFS_YAML.replace("price: 0.35", "price: 0.39").replace(
        '    partners: ["DE*FLT"]\n', '    partners: ["DE*NEW"]\n')
    changed += """\
  - id: NIGHT
    currency: EUR
    elements:
      - price_components: [{type: ENERGY, price: 0.25, step_size: 1}]
        restrictions: {start_time: "22:00", end_time: "06:00"}
"""
    write(path, changed)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gateway.url}/admin/reload",
                                headers={"Authorization": "Bearer adm1n"}) as resp:
            assert resp.status == 200
            data = (await resp.json())["data"]
    assert data["changed_tariffs"] == ["AC-STANDARD", "FLEET-ONLY", "NIGHT"]
    assert await gateway.app[OUTBOX].drain(10)
    old, new, fleet = peers["2.2.1"], peers["2.3.0"], peers["fleet"]
    assert old.tariffs["NL/EXA/AC-STANDARD"]["elements"][0]["price_components"][0][
        "price"] == 0.39
    assert "NL/EXA/NIGHT" in old.tariffs and "NL/EXA/FLEET-ONLY" not in old.tariffs
    assert "NL/EXA/FLEET-ONLY" in new.tariffs  # now meant for DE*NEW
    assert new.tariffs["NL/EXA/NIGHT"]["tax_included"] == "NO"
    deletes = [r.path for r in fleet.received if r.method == "DELETE"]
    assert deletes == ["/emsp/2.2.1/tariffs/NL/EXA/FLEET-ONLY"]  # no longer for DE*FLT
    # unchanged DC-FAST was not pushed; the routing headers name us and the receiver
    assert not any(r.path.endswith("/DC-FAST") for p in (old, new, fleet) for r in p.received)
    put = next(r for r in old.received if r.method == "PUT" and r.path.endswith("/NIGHT"))
    assert put.headers["OCPI-from-party-id"] == "EXA" and put.headers["OCPI-to-party-id"] == "EMS"
    assert old.violations == [] and new.violations == []


async def test_reload_refused_when_a_connector_names_a_removed_tariff(
        gateway: RunningGateway, peers: dict[str, EmspPeer]) -> None:
    path = gateway.settings.tariffs_file
    assert path is not None
    before = gateway.app[TARIFFS].catalog
    write(path, TARIFFS_YAML.split("  - id: DC-FAST")[0])
    os.utime(path, (1_900_000_000, 1_900_000_000))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{gateway.url}/admin/reload",
                                headers={"Authorization": "Bearer adm1n"}) as resp:
            assert resp.status == 400
            body = await resp.json()
    assert any("unknown tariff 'DC-FAST'" in line for line in body["data"]["errors"])
    assert gateway.app[TARIFFS].catalog is before  # the previous tariffs stay in force
    _, listed, _ = await peers["2.2.1"].call("GET", f"{gateway.url}/ocpi/2.2.1/tariffs")
    assert [t["id"] for t in listed["data"]] == ["AC-STANDARD", "DC-FAST"]
