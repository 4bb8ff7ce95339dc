"""A big locations file is validated in chunks (a reload shares the GIL with the event loop),
with the same result and the same error messages as one validation of the whole file."""

from __future__ import annotations

import pytest

from ocpi_gateway.locations.catalog import (
    VALIDATION_CHUNK,
    LocationsConfigError,
    parse_locations,
)
from ocpi_gateway.locations.models import OperatorLocations
from ocpi_gateway.locations.sample import sample_location

COUNT = VALIDATION_CHUNK * 3 + 7


def test_chunked_result_equals_whole_validation() -> None:
    raw = {"locations": [sample_location(i) for i in range(COUNT)]}
    assert parse_locations(raw) == list(OperatorLocations.model_validate(raw).locations)


def test_an_error_in_a_later_chunk_names_its_location_and_field() -> None:
    raw = {"locations": [sample_location(i) for i in range(COUNT)]}
    raw["locations"][VALIDATION_CHUNK * 2 + 3]["evses"][1]["connectors"][0]["max_amperage"] = -1
    with pytest.raises(LocationsConfigError) as caught:
        parse_locations(raw, "big.yaml")
    bad = f"LOC-{VALIDATION_CHUNK * 2 + 3:05d}"
    assert f"big.yaml: location '{bad}': evses[{bad}-2].connectors.0.max_amperage" in str(
        caught.value)


def test_an_unknown_root_key_is_still_refused() -> None:
    raw = {"locations": [sample_location(i) for i in range(COUNT)], "locatoins": []}
    with pytest.raises(LocationsConfigError, match="locatoins"):
        parse_locations(raw)


def test_a_replaced_catalog_is_emptied_in_batches() -> None:
    from ocpi_gateway.locations.catalog import LocationsCatalog
    from ocpi_gateway.locations.sample import sample_locations

    catalog = LocationsCatalog(sample_locations(250))
    rounds = 0
    while catalog.release_some(100):
        rounds += 1
        assert 0 < len(catalog.locations()) < 250
    assert rounds == 2 and catalog.locations() == [] and catalog.evses_of_charger("CP-00001") == []
