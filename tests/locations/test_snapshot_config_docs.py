"""A snapshot of a big location keeps its EVSEs' configuration parts between writes
(``published_doc(location, config_docs)``): what it writes is what the full dump writes, after
status changes, an EVSE's configuration replaced by a reload, EVSEs added and gone."""

from __future__ import annotations

import copy

from ocpi_gateway.locations.catalog import parse_locations
from ocpi_gateway.locations.models import EvseConfig
from ocpi_gateway.locations.published import (
    ConfigDocs,
    PublishedEvse,
    PublishedLocation,
    published_doc,
)
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.locations.test_versions import afir_location

STAMP = "2026-01-01T00:00:00.000Z"
LATER = "2026-01-02T00:00:00.000Z"


def test_kept_configuration_parts_give_the_full_dump() -> None:
    [location] = parse_locations({"locations": [afir_location()]})
    first, second = location.evses[0], location.evses[1]
    gone = EvseConfig.model_validate({"uid": "OLD", "connectors": [{
        "id": "1", "standard": "CHADEMO", "format": "CABLE", "power_type": "DC",
        "max_voltage": 500, "max_amperage": 125}]})
    kept: ConfigDocs = {}
    states = [
        [PublishedEvse(first, EvseStatus.AVAILABLE, STAMP, STAMP),
         PublishedEvse(second, EvseStatus.AVAILABLE, STAMP, STAMP)],
        # Statuses change: the kept parts are reused.
        [PublishedEvse(first, EvseStatus.CHARGING, LATER, STAMP),
         PublishedEvse(second, EvseStatus.RESERVED, LATER, STAMP)],
        # A reload replaced the first EVSE's configuration (same uid, new object), the second
        # is gone and an old one is published REMOVED.
        [PublishedEvse(first.model_copy(update={"floor_level": "-2"}), EvseStatus.CHARGING,
                       LATER, LATER),
         PublishedEvse(gone, EvseStatus.REMOVED, LATER, STAMP)],
    ]
    for evses in states:
        live = PublishedLocation(location, evses, LATER)
        expected = published_doc(live)
        written = copy.deepcopy(published_doc(live, kept))
        assert written == expected
        assert list(written["evses"][0]) == list(expected["evses"][0])  # same key order
        assert set(kept) == {e.config.uid for e in evses}
    assert published_doc(PublishedLocation(location, states[2], LATER), kept)[
        "evses"][0]["floor_level"] == "-2"
