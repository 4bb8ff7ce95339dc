"""Real-time authorization at a published location: the POST {token_uid}/authorize body is
the LocationReferences of the charger's location, in the version the eMSP negotiated, and
passes that version's official schema (the peer refuses any other with 2001)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from ocpi_gateway.tokens.models import LocationReferences
from tests.locations.test_versions import LOCATION, afir_location
from tests.openapi import validate_object
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway
from tests.tokens.test_tokens_receiver import token

EXTENSIONS = ["ocpi_gateway.deliveries.app:install", "ocpi_gateway.locations.extension:install",
              "ocpi_gateway.tokens.module:install"]


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    locations = tmp_path / "locations.yaml"
    locations.write_text(yaml.safe_dump({"locations": [afir_location()]}), encoding="utf-8")
    running = await start_gateway(gateway_settings(tmp_path, locations_file=locations),
                                  extensions=EXTENSIONS)
    yield running
    await running.stop()


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
async def test_authorize_body_names_the_chargers_location(
        gateway: RunningGateway, version: str) -> None:
    emsp = EmspPeer(versions=("2.2.1", "2.3.0"), ocpi_version=version)
    await emsp.start()
    try:
        _, token_a = await gateway.partners.invite("emsp", emsp.grants())
        status, body = await emsp.register_with(gateway.versions_url, token_a)
        assert status == 200 and body["status_code"] == 1000, body
        await emsp.call("PUT", f"{gateway.url}/ocpi/{version}/tokens/DE/EMS/RT1",
                        json=token("RT1", whitelist="NEVER"))
        emsp.authorize_answers = {"RT1": "ALLOWED"}
        assert (await gateway.app[TOKEN_AUTHORIZER].authorize("CP-1", "RT1")).accepted
        asked = [r for r in emsp.received if r.path.endswith("/authorize")]
        assert [r.body for r in asked] == [{"location_id": LOCATION, "evse_uids": ["E1", "E2"]}]
        assert f"/emsp/{version}/" in asked[0].path
        assert asked[0].headers["OCPI-from-party-id"] == "EXA"
        assert emsp.violations == []
    finally:
        await emsp.close()


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
def test_location_references_of_each_version(version: str) -> None:
    mapping = package(version).tokens
    whole = to_jsonable(mapping.location_references(
        LocationReferences(location_id="LOC-1", evse_uids=("E1",))))
    assert whole == {"location_id": "LOC-1", "evse_uids": ["E1"]}
    bare = to_jsonable(mapping.location_references(LocationReferences(location_id="LOC-1")))
    assert bare == {"location_id": "LOC-1"}  # no EVSE known: evse_uids left out, not []
    for body in (whole, bare):
        validate_object(version, "tokens", "LocationReferences", body)
