"""Two gateway instances sharing one Redis: each serves the statuses the other's chargers
report, and a hold taken on one shows as RESERVED on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.publisher import LocationsPublisher
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from tests.locations.conftest import EXAMPLE


async def test_instance_adopts_statuses_of_the_other(redis_url: str) -> None:
    stores = [RedisAvailability.from_url(redis_url) for _ in range(2)]
    a, b = (LocationsPublisher(LocationsCatalog.from_file(EXAMPLE), s) for s in stores)
    await a.start()
    await b.start()
    await a.on_event(ConnectorStatusChanged(charge_point_id="CP-UTR-01", evse_id=1,
                                            connector_id=1, status=ConnectorStatus.FAULTED))
    await a.settle()
    assert a.evse("NL-UTR-JAARBEURS", "UTR-JB-01").status == "OUTOFORDER"  # type: ignore[union-attr]
    assert b.evse("NL-UTR-JAARBEURS", "UTR-JB-01").status == "UNKNOWN"  # type: ignore[union-attr]
    assert await b.sync_shared() == 1
    evse = b.evse("NL-UTR-JAARBEURS", "UTR-JB-01")
    assert evse is not None and evse.status == "OUTOFORDER"
    assert b.published_doc("NL-UTR-JAARBEURS")["last_updated"] >= evse.last_updated  # type: ignore[index]
    body, total = b.page(0, 10, evse.last_updated, None)
    assert total == 1 and b"NL-UTR-JAARBEURS" in body
    assert await b.sync_shared() == 0  # nothing new

    await a.on_event(ConnectorStatusChanged(charge_point_id="CP-UTR-01", evse_id=2,
                                            connector_id=1, status=ConnectorStatus.AVAILABLE))
    await a.settle()
    held = await stores[1].pick_and_hold("NL-UTR-JAARBEURS", ["UTR-JB-02"], holder="r1",
                                         until=datetime.now(UTC) + timedelta(minutes=1))
    assert held == "UTR-JB-02"
    await b.settle()
    assert b.evse("NL-UTR-JAARBEURS", "UTR-JB-02").status == "RESERVED"  # type: ignore[union-attr]
    assert await a.sync_shared() >= 1
    assert a.evse("NL-UTR-JAARBEURS", "UTR-JB-02").status == "RESERVED"  # type: ignore[union-attr]
    for publisher in (a, b):
        await publisher.stop()
    for store in stores:
        await store.close()


async def test_a_shared_sync_whose_caller_gave_up_is_no_failure(redis_url: str) -> None:
    """Regression (seen at shutdown): the sync loop was stopped while its sync waited in the
    queue; the consumer then set the result of the cancelled future (InvalidStateError,
    ``locations_event_failed``)."""
    import asyncio

    from structlog.testing import capture_logs

    store = RedisAvailability.from_url(redis_url)
    publisher = LocationsPublisher(LocationsCatalog.from_file(EXAMPLE), store)
    await publisher.start()
    try:
        with capture_logs() as logs:
            sync = asyncio.ensure_future(publisher.sync_shared())
            await asyncio.sleep(0)  # queued
            sync.cancel()
            await publisher.settle()
        assert sync.cancelled()
        assert not [e for e in logs if e["event"] == "locations_event_failed"], logs
    finally:
        await publisher.stop()
        await store.close()


async def test_an_instance_starting_later_publishes_the_statuses_known_and_keeps_them(
    redis_url: str,
) -> None:
    stores = [RedisAvailability.from_url(redis_url) for _ in range(2)]
    await stores[0]._redis.flushall()
    a, b = (LocationsPublisher(LocationsCatalog.from_file(EXAMPLE), s) for s in stores)
    await a.start()
    await a.on_event(ConnectorStatusChanged(charge_point_id="CP-UTR-01", evse_id=1,
                                            connector_id=1, status=ConnectorStatus.FAULTED))
    await a.settle()
    # b's start initialises the EVSEs nobody reported (UNKNOWN), not those a charger did.
    await b.start()
    assert b.evse("NL-UTR-JAARBEURS", "UTR-JB-01").status == "OUTOFORDER"  # type: ignore[union-attr]
    seen = await stores[1].get("NL-UTR-JAARBEURS", "UTR-JB-01")
    assert seen is not None and seen.status == "OUTOFORDER"
    assert await a.sync_shared() == 0
    for publisher in (a, b):
        await publisher.stop()
    for store in stores:
        await store.close()


async def test_restoring_after_redis_lost_its_data_records_unknown_where_nobody_wrote(
    redis_url: str,
) -> None:
    store = RedisAvailability.from_url(redis_url)
    catalog = LocationsCatalog.from_file(EXAMPLE)
    publisher = LocationsPublisher(catalog, store)
    await publisher.start()
    await store._redis.flushall()  # Redis came back empty
    # Another instance put back what its charger reported first: that stays.
    await store.set_status("NL-UTR-JAARBEURS", "UTR-JB-01", EvseStatus.CHARGING,
                           datetime.now(UTC))
    await publisher.restore_statuses()
    found = await store.locations([location.id for location in catalog.locations()])
    assert {(loc, uid): e.status for loc, view in found.items() for uid, e in view.items()} == {
        (location.id, evse.uid): EvseStatus.CHARGING
        if (location.id, evse.uid) == ("NL-UTR-JAARBEURS", "UTR-JB-01") else EvseStatus.UNKNOWN
        for location in catalog.locations() for evse in location.evses}
    await publisher.stop()
    await store.close()
