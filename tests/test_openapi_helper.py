"""The OpenAPI helper itself: it must catch what it exists to catch, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.openapi import (
    OpenApiViolation,
    validate_gateway_response,
    validate_object,
    validate_request,
    validate_response,
)

STAMP = "2026-11-23T10:00:00Z"


def connector(standard: str = "IEC_62196_T2") -> dict[str, Any]:
    return {"id": "1", "standard": standard, "format": "SOCKET", "power_type": "AC_3_PHASE",
            "max_voltage": 230, "max_amperage": 32, "last_updated": STAMP}


def location() -> dict[str, Any]:
    return {"country_code": "NL", "party_id": "EXA", "id": "LOC1", "publish": True,
            "address": "Street 1", "city": "Town", "country": "NLD",
            "coordinates": {"latitude": "52.30000", "longitude": "4.80000"},
            "time_zone": "Europe/Amsterdam", "last_updated": STAMP,
            "evses": [{"uid": "E1", "status": "AVAILABLE", "connectors": [connector()],
                       "last_updated": STAMP}]}


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
def test_a_valid_location_page_passes(version: str) -> None:
    """The valid page passes, and the same page without a required field does not: the
    validator really checks this path rather than letting everything through."""
    validate_response(version, "GET", "/locations",
                      {"status_code": 1000, "timestamp": STAMP, "data": [location()]})
    incomplete = location()
    del incomplete["evses"][0]["uid"]
    with pytest.raises(OpenApiViolation):
        validate_response(version, "GET", "/locations",
                          {"status_code": 1000, "timestamp": STAMP, "data": [incomplete]})


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
def test_first_violation_names_the_nested_field(version: str) -> None:
    bad = location()
    bad["evses"][0]["status"] = "SLEEPING"
    with pytest.raises(OpenApiViolation, match=r"body\.data\[0\]\.evses\[0\]\.status"):
        validate_response(version, "GET", "/locations",
                          {"status_code": 1000, "timestamp": STAMP, "data": [bad]})


def test_refs_across_files_are_resolved() -> None:
    # CommandResponse lives in commands/schema.yaml, the envelope in components/schema.yaml.
    with pytest.raises(OpenApiViolation, match=r"body\.data\.result must be one of"):
        validate_response("2.2.1", "POST", "/commands/RESERVE_NOW", {
            "status_code": 1000, "timestamp": STAMP, "data": {"result": "MAYBE", "timeout": 30}})
    with pytest.raises(OpenApiViolation, match=r"body must contain \['status_code'"):
        validate_response("2.2.1", "POST", "/commands/RESERVE_NOW", {"data": {}})


def test_open_enums_are_open_in_2_3_0_only() -> None:
    validate_object("2.3.0", "locations", "Connector", connector("SOME_FUTURE_PLUG"))
    with pytest.raises(OpenApiViolation, match=r"body\.standard must be one of"):
        validate_object("2.2.1", "locations", "Connector", connector("SOME_FUTURE_PLUG"))
    with pytest.raises(OpenApiViolation, match=r"body\.standard must be one of"):
        validate_object("2.2.1", "locations", "Connector", connector("MCS"))
    validate_object("2.3.0", "locations", "Connector", connector("MCS"))


def test_patch_bodies_need_last_updated() -> None:
    with pytest.raises(OpenApiViolation, match="last_updated"):
        validate_request("2.2.1", "PATCH", "/locations/NL/EXA/LOC1/E1", {"status": "CHARGING"})
    validate_request("2.2.1", "PATCH", "/locations/NL/EXA/LOC1/E1",
                     {"status": "CHARGING", "last_updated": STAMP})


def test_errors_are_checked_against_the_envelope_and_versions_against_the_newest() -> None:
    validate_gateway_response("GET", "/ocpi/2.2.1/locations/NOPE",
                              {"status_code": 2003, "timestamp": STAMP}, http_status=404)
    with pytest.raises(OpenApiViolation, match="timestamp"):
        validate_gateway_response("GET", "/ocpi/2.2.1/locations/NOPE", {"status_code": 2003})
    with pytest.raises(OpenApiViolation, match=r"body\.data\[0\] must contain"):
        validate_gateway_response("GET", "/ocpi/versions",
                                  {"status_code": 1000, "timestamp": STAMP, "data": [{}]})
    validate_gateway_response("GET", "/ocpi/versions", {
        "status_code": 1000, "timestamp": STAMP,
        "data": [{"version": "2.2.1", "url": "https://x/ocpi/2.2.1"},
                 {"version": "2.3.0", "url": "https://x/ocpi/2.3.0"}]})
    with pytest.raises(OpenApiViolation, match=r"body\.data\[0\]\.version must be one of"):
        validate_response("2.2.1", "GET", "/versions", {
            "status_code": 1000, "timestamp": STAMP,
            "data": [{"version": "2.3.0", "url": "https://x/ocpi/2.3.0"}]})


def test_tax_included_yes_and_no_are_the_strings_the_schema_lists() -> None:
    # The files are YAML 1.2: TaxIncluded's YES / NO are strings there, not booleans
    # (YAML 1.1 would have made every 2.3.0 Tariff with "tax_included": "NO" invalid).
    for value in ("YES", "NO", "N/A"):
        validate_object("2.3.0", "tariffs", "TaxIncluded", value)
    with pytest.raises(OpenApiViolation):
        validate_object("2.3.0", "tariffs", "TaxIncluded", True)
