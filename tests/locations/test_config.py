"""Operator YAML: the example loads; errors name the file, the location and the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.locations.catalog import (
    LocationsCatalog,
    LocationsConfigError,
    load_locations_file,
)
from ocpi_gateway.locations.enums import Capability
from tests.locations.conftest import EXAMPLE


def example() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return raw


def write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "locations.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def error_of(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = write(tmp_path, raw)
    with pytest.raises(LocationsConfigError) as info:
        load_locations_file(path)
    return str(info.value)


def test_example_file_has_two_sites_of_four_evses() -> None:
    locations = load_locations_file(EXAMPLE)
    assert len(locations) >= 2
    assert all(len(loc.evses) == 4 for loc in locations)
    chargers = {e.charge_point_id for loc in locations for e in loc.evses}
    assert {"CP-AMS-01", "CP-AMS-02", "CP-UTR-01"} <= chargers
    assert any(Capability.RESERVABLE in e.capabilities for loc in locations for e in loc.evses)


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda r: r["locations"][0]["evses"][1]["connectors"][0].update(standard="TYPE2"),
         "evses[AMS-ZUIDAS-02].connectors.0.standard", "Input should be"),
        (lambda r: r["locations"][1].update(city="x" * 46), "city", "at most 45"),
        (lambda r: r["locations"][0]["coordinates"].update(latitude="52.3"),
         "coordinates.latitude", "should match pattern"),
        (lambda r: r["locations"][0]["evses"][0].update(physical_reference="x" * 17),
         "evses[AMS-ZUIDAS-01].physical_reference", "at most 16"),
        (lambda r: r["locations"][0]["evses"][0]["connectors"][0].pop("ocpp_connector_id"),
         "evses[AMS-ZUIDAS-01]", "ocpp_connector_id"),
        (lambda r: r["locations"][1].update(colour="blue"), "colour", "colour: not a known key"),
        (lambda r: r["locations"][1].pop("time_zone"), "time_zone", "Field required"),
        (lambda r: r["locations"][0]["evses"][0].update(capabilities=["RESERVEABLE"]),
         "evses[AMS-ZUIDAS-01].capabilities.0", "Input should be"),
        (lambda r: r["locations"][1].update(country="NL"), "country", "at least 3"),
        (lambda r: r["locations"][0]["opening_times"].update(twentyfourseven=True),
         "opening_times", "only be used when twentyfourseven is false"),
    ],
)
def test_errors_name_file_location_and_field(
    tmp_path: Path, mutate: Any, field: str, message: str
) -> None:
    raw = copy.deepcopy(example())
    mutate(raw)
    text = error_of(tmp_path, raw)
    assert str(tmp_path / "locations.yaml") in text
    location_id = "NL-UTR-JAARBEURS" if "JAARBEURS" in text else "NL-AMS-ZUIDAS"
    assert f"location '{location_id}'" in text
    assert field in text
    assert message in text


def test_two_evses_on_one_ocpp_connector_is_an_error(tmp_path: Path) -> None:
    raw = copy.deepcopy(example())
    raw["locations"][1]["evses"][1]["ocpp_evse_id"] = 1
    text = error_of(tmp_path, raw)
    assert "location 'NL-UTR-JAARBEURS'" in text and "UTR-JB-01" in text


def test_duplicate_location_id(tmp_path: Path) -> None:
    raw = copy.deepcopy(example())
    raw["locations"][1]["id"] = raw["locations"][0]["id"]
    raw["locations"][1]["evses"] = []
    assert "id: appears 2 times" in error_of(tmp_path, raw)


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(LocationsConfigError, match="cannot read"):
        load_locations_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("locations: [\n")
    with pytest.raises(LocationsConfigError, match="not valid YAML"):
        load_locations_file(bad)


def test_catalog_maps_evses_and_chargers_both_ways() -> None:
    catalog = LocationsCatalog.from_file(EXAMPLE)
    # OCPP 1.6: connectors are separate EVSEs
    assert catalog.evse_at("CP-AMS-01", None, 1) == ("NL-AMS-ZUIDAS", "AMS-ZUIDAS-01")
    assert catalog.evse_at("CP-AMS-01", None, 2) == ("NL-AMS-ZUIDAS", "AMS-ZUIDAS-02")
    assert catalog.address_of("NL-AMS-ZUIDAS", "AMS-ZUIDAS-02") == ChargerAddress(
        "CP-AMS-01", None, 2)
    # OCPP 2.0.1: evse ids
    assert catalog.evse_at("CP-AMS-02", 2, 1) == ("NL-AMS-ZUIDAS", "AMS-ZUIDAS-04")
    assert catalog.address_of("NL-UTR-JAARBEURS", "UTR-JB-04") == ChargerAddress(
        "CP-UTR-01", 4, None)
    assert catalog.connector_address("NL-AMS-ZUIDAS", "AMS-ZUIDAS-03", "2") == ChargerAddress(
        "CP-AMS-02", 1, 2)
    assert catalog.connector_of("CP-AMS-02", 1, 2) == "2"
    # unknown things
    assert catalog.evse_at("CP-AMS-01", None, 3) is None
    assert catalog.evse_at("CP-NOPE", 1, 1) is None
    assert catalog.address_of("NL-AMS-ZUIDAS", "NOPE") is None
    assert catalog.get("NOPE") is None
    assert catalog.reservable_evses("NL-UTR-JAARBEURS") == ["UTR-JB-01", "UTR-JB-02",
                                                            "UTR-JB-03"]
    assert len(catalog.evses_of_charger("CP-UTR-01")) == 4


def test_reload_reads_the_file_again(tmp_path: Path) -> None:
    raw = copy.deepcopy(example())
    path = write(tmp_path, raw)
    catalog = LocationsCatalog.from_file(path)
    raw["locations"][0]["name"] = "Renamed"
    path.write_text(yaml.safe_dump(raw))
    fresh = catalog.reload()
    assert fresh.get("NL-AMS-ZUIDAS").name == "Renamed"  # type: ignore[union-attr]
    assert catalog.get("NL-AMS-ZUIDAS").name != "Renamed"  # type: ignore[union-attr]
