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


def test_only_evses_that_changed_get_a_new_document() -> None:
    [location] = parse_locations({"locations": [afir_location()]})
    first, second = location.evses[0], location.evses[1]
    kept: ConfigDocs = {}
    a = PublishedEvse(first, EvseStatus.AVAILABLE, STAMP, STAMP)
    b = PublishedEvse(second, EvseStatus.AVAILABLE, STAMP, STAMP)
    live = PublishedLocation(location, [a, b], STAMP)
    before = published_doc(live, kept)["evses"]
    again = published_doc(live, kept)["evses"]
    assert again[0] is before[0] and again[1] is before[1]  # nothing changed: reused
    for change in ({"status": EvseStatus.CHARGING}, {"last_updated": LATER},
                   {"connectors_updated": LATER}):
        for name, value in change.items():
            setattr(b, name, value)
        after = published_doc(live, kept)["evses"]
        assert after[0] is before[0] and after[1] is not before[1], change
        assert after == published_doc(live)["evses"]
        before = after
