"""``PublishedLocation.evse`` finds an EVSE by uid through an index made at the first lookup:
what the walk over ``evses`` found (the first of a uid; another case of the uid, since EVSE
uids are CiStrings; nothing for an unknown uid)."""

from __future__ import annotations

from ocpi_gateway.locations.catalog import parse_locations
from ocpi_gateway.locations.published import PublishedEvse, PublishedLocation
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from tests.locations.test_versions import afir_location

STAMP = "2026-01-01T00:00:00.000Z"


def _published() -> tuple[PublishedLocation, list[PublishedEvse]]:
    [location] = parse_locations({"locations": [afir_location()]})
    first, second = location.evses[0], location.evses[1]
    evses = [PublishedEvse(first, EvseStatus.AVAILABLE, STAMP, STAMP),
             PublishedEvse(second, EvseStatus.CHARGING, STAMP, STAMP),
             # The same uid again (an EVSE gone from the file, published REMOVED): the first
             # one is the EVSE.
             PublishedEvse(first, EvseStatus.REMOVED, STAMP, STAMP)]
    return PublishedLocation(location, evses, STAMP), evses


def test_each_uid_finds_its_first_evse() -> None:
    live, evses = _published()
    assert live.evse(evses[1].config.uid) is evses[1]
    assert live.evse(evses[0].config.uid) is evses[0]
    assert live.evse(evses[1].config.uid) is evses[1]  # from the index made meanwhile


def test_another_case_of_the_uid_finds_it_and_an_unknown_uid_nothing() -> None:
    live, evses = _published()
    uid = evses[1].config.uid
    assert uid.lower() != uid
    assert live.evse(uid.lower()) is evses[1]
    assert live.evse("NO-SUCH-EVSE") is None
