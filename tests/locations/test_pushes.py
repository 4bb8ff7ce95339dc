"""Pushes through the durable outbox to a real loopback eMSP receiver."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ocpi_gateway.deliveries import DeliveryEngine, DeliveryPolicy
from ocpi_gateway.deliveries.models import COLLECTION
from ocpi_gateway.domain.events import (
    ChargerConnected,
    ChargerDisconnected,
    ConnectorStatus,
    ConnectorStatusChanged,
)
from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.locations.publisher import LocationsPublisher, Receiver
from ocpi_gateway.reservation_policy.availability.memory import MemoryAvailability
from ocpi_gateway.store import open_store
from tests.locations.conftest import EXAMPLE
from tests.locations.conftest import Receiver as Peer

FAST = DeliveryPolicy(timeout=2.0, base_backoff=0.01, max_backoff=0.05,
                      concurrency_per_partner=4)


async def token(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token dGVzdA=="}


def engine(store: DocumentStore) -> DeliveryEngine:
    return DeliveryEngine(store, token, policy=FAST)


async def test_in_order_per_object_with_retries(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    receiver.refuse_first = 3
    outbox = engine(doc_store)
    await outbox.start()
    url = f"{receiver.url}/NL/EXA/L1"
    for n in range(5):
        await outbox.enqueue("emsp", "PATCH" if n else "PUT", f"{url}/E1" if n else url,
                             {"n": n}, ordering_key=url)
    assert await outbox.drain(5)
    await outbox.stop()
    assert [r.body["n"] for r in receiver.requests] == [0, 1, 2, 3, 4]
    assert receiver.seen == 8  # 3 refusals, then each delivery exactly once
    assert await doc_store.count(COLLECTION) == 0
    assert receiver.requests[0].method == "PUT"


async def test_rapid_changes_coalesce(receiver: Peer, doc_store: DocumentStore) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    outbox = engine(doc_store)  # not started: everything waits
    url = f"{receiver.url}/NL/EXA/L1"
    await outbox.enqueue("emsp", "PUT", url, {"v": "put"}, ordering_key=url)
    for status in ("CHARGING", "AVAILABLE", "CHARGING", "OUTOFORDER"):
        await outbox.enqueue("emsp", "PATCH", f"{url}/E1", {"status": status},
                             ordering_key=url, coalesce=True)
    await outbox.enqueue("emsp", "PATCH", f"{url}/E2", {"status": "CHARGING"},
                         ordering_key=url, coalesce=True)
    assert outbox.pending() == 3
    assert await doc_store.count(COLLECTION) == 3
    await outbox.start()  # reloads the three from the store
    assert await outbox.drain(5)
    await outbox.stop()
    assert [(r.method, r.path.rsplit("/", 1)[-1], r.body) for r in receiver.requests] == [
        ("PUT", "L1", {"v": "put"}),
        ("PATCH", "E1", {"status": "OUTOFORDER"}),
        ("PATCH", "E2", {"status": "CHARGING"}),
    ]


async def test_restart_with_pushes_pending(receiver: Peer, tmp_path: Path) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    db = f"sqlite:///{tmp_path / 'restart.db'}"
    doc_store = await open_store(db)
    receiver.refuse_first = 10**6
    first = engine(doc_store)
    await first.start()
    urls = [f"{receiver.url}/NL/EXA/L{n}" for n in range(3)]
    for n, url in enumerate(urls):
        await first.enqueue("emsp", "PUT", url, {"n": n})
    for _ in range(200):
        if receiver.seen >= 3:
            break
        await asyncio.sleep(0.01)
    await first.stop()  # the gateway goes down with three pushes pending
    assert receiver.requests == [] and await doc_store.count(COLLECTION) == 3
    await doc_store.close()
    receiver.refuse_first = 0
    doc_store = await open_store(db)  # a new process opens the same file
    second = engine(doc_store)
    await second.start()
    assert await second.drain(5)
    await second.stop()
    assert sorted(r.body["n"] for r in receiver.requests) == [0, 1, 2]
    assert await doc_store.count(COLLECTION) == 0
    await doc_store.close()


async def test_client_error_on_put_is_dead_lettered_not_retried(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    receiver.refuse_first, receiver.refuse_status = 1, 400
    outbox = engine(doc_store)
    await outbox.start()
    await outbox.enqueue("emsp", "PUT", f"{receiver.url}/NL/EXA/L1", {"n": 1})
    await outbox.enqueue("emsp", "PUT", f"{receiver.url}/NL/EXA/L1", {"n": 2})
    assert await outbox.drain(5)
    await outbox.stop()
    assert [r.body["n"] for r in receiver.requests] == [2]
    dead = await doc_store.find(COLLECTION, {"dead": True})
    assert len(dead) == 1 and dead[0]["last_error"].startswith("HTTP 400")


async def test_timeout_is_retried(receiver: Peer, doc_store: DocumentStore) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    receiver.stall_first, receiver.stall_seconds = 2, 0.4
    outbox = DeliveryEngine(doc_store, token, policy=DeliveryPolicy(
        timeout=0.15, base_backoff=0.01, max_backoff=0.02))
    await outbox.start()
    await outbox.enqueue("emsp", "PUT", f"{receiver.url}/NL/EXA/L1", {"n": 1})
    assert await outbox.drain(5)
    await outbox.stop()
    assert receiver.seen == 3
    assert [r.body for r in receiver.requests] == [{"n": 1}]


async def test_unreachable_partner_retries(doc_store: DocumentStore) -> None:
    outbox = DeliveryEngine(doc_store, token, policy=DeliveryPolicy(
        timeout=0.2, base_backoff=0.01, max_backoff=0.02, max_attempts=3))
    await outbox.start()
    await outbox.enqueue("emsp", "PUT", "http://127.0.0.1:9/ocpi/x", {"n": 1})
    assert await outbox.drain(5)
    await outbox.stop()
    [doc] = await doc_store.find(COLLECTION)
    assert doc["dead"] and doc["attempts"] == 3


# -- the publisher end to end -------------------------------------------------------------


async def make_publisher(
    receiver: Peer, doc_store: DocumentStore, *, path: Path = EXAMPLE,
    grace: float = 60.0,
) -> tuple[LocationsPublisher, DeliveryEngine, MemoryAvailability]:
    outbox = engine(doc_store)
    availability = MemoryAvailability()

    async def receivers() -> list[Receiver]:
        return [Receiver("emsp", receiver.url)]

    publisher = LocationsPublisher(LocationsCatalog.from_file(path), availability,
                                   store=doc_store, outbox=outbox, receivers=receivers,
                                   offline_grace=grace)
    await outbox.start()
    await publisher.start()
    return publisher, outbox, availability


async def settle(publisher: LocationsPublisher, outbox: DeliveryEngine) -> None:
    await publisher.settle()
    assert await outbox.drain(5)


def status(cp: str, evse: int | None, connector: int, value: ConnectorStatus,
           ) -> ConnectorStatusChanged:
    return ConnectorStatusChanged(charge_point_id=cp, evse_id=evse, connector_id=connector,
                                  status=value)


async def test_new_locations_are_put_then_status_patched(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    publisher, outbox, availability = await make_publisher(receiver, doc_store)
    await settle(publisher, outbox)
    puts = receiver.of("PUT")
    assert sorted(r.path.rsplit("/", 1)[-1] for r in puts) == ["NL-AMS-ZUIDAS",
                                                                "NL-UTR-JAARBEURS"]
    assert puts[0].path.startswith("/ocpi/emsp/2.2.1/locations/NL/EXA/")
    assert all(e["status"] == "UNKNOWN" for r in puts for e in r.body["evses"])
    await publisher.on_event(status("CP-AMS-01", None, 2, ConnectorStatus.CHARGING))
    await publisher.on_event(status("CP-UTR-01", 3, 1, ConnectorStatus.FAULTED))
    await settle(publisher, outbox)
    patches = {r.path: r.body for r in receiver.of("PATCH")}
    assert patches["/ocpi/emsp/2.2.1/locations/NL/EXA/NL-AMS-ZUIDAS/AMS-ZUIDAS-02"][
        "status"] == "CHARGING"
    utr = patches["/ocpi/emsp/2.2.1/locations/NL/EXA/NL-UTR-JAARBEURS/UTR-JB-03"]
    assert utr["status"] == "OUTOFORDER" and set(utr) == {"status", "last_updated"}
    assert (await availability.get("NL-UTR-JAARBEURS", "UTR-JB-03")).status.value == \
        "OUTOFORDER"  # type: ignore[union-attr]
    await outbox.stop()
    await publisher.stop()


async def test_refused_patch_resyncs_with_get_then_put(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    publisher, outbox, _ = await make_publisher(receiver, doc_store)
    await settle(publisher, outbox)
    receiver.requests.clear()
    receiver.refuse_patch_with = (404, 2003)
    await publisher.on_event(status("CP-UTR-01", 1, 1, ConnectorStatus.CHARGING))
    await settle(publisher, outbox)
    methods = [r.method for r in receiver.requests]
    assert methods == ["PATCH-REFUSED", "GET", "PUT"]
    put = receiver.requests[-1]
    assert put.path.endswith("/NL/EXA/NL-UTR-JAARBEURS")
    evse = next(e for e in put.body["evses"] if e["uid"] == "UTR-JB-01")
    assert evse["status"] == "CHARGING"
    await outbox.stop()
    await publisher.stop()


async def test_charger_wide_status_and_offline_grace(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    publisher, outbox, _ = await make_publisher(receiver, doc_store, grace=0.05)
    for c in (1, 2):
        await publisher.on_event(status("CP-AMS-01", None, c, ConnectorStatus.AVAILABLE))
    await publisher.on_event(status("CP-AMS-01", None, 0, ConnectorStatus.UNAVAILABLE))
    await settle(publisher, outbox)
    assert {publisher.evse("NL-AMS-ZUIDAS", u).status  # type: ignore[union-attr]
            for u in ("AMS-ZUIDAS-01", "AMS-ZUIDAS-02")} == {"INOPERATIVE"}
    await publisher.on_event(status("CP-AMS-01", None, 0, ConnectorStatus.AVAILABLE))
    await settle(publisher, outbox)
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-01").status == "AVAILABLE"  # type: ignore[union-attr]
    # a short disconnect inside the grace changes nothing (a grace no loaded machine can
    # overrun between the two events)
    publisher.offline_grace = 60.0
    await publisher.on_event(ChargerDisconnected(charge_point_id="CP-AMS-01"))
    await publisher.on_event(ChargerConnected(charge_point_id="CP-AMS-01",
                                              ocpp_version=OcppVersion.V16))
    await settle(publisher, outbox)
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-01").status == "AVAILABLE"  # type: ignore[union-attr]
    # longer than the grace: UNKNOWN, then back on reconnect (the 0.05 s timer fires before
    # the 0.1 s sleep ends, however slow the machine)
    publisher.offline_grace = 0.05
    await publisher.on_event(ChargerDisconnected(charge_point_id="CP-AMS-01"))
    await asyncio.sleep(0.1)
    await settle(publisher, outbox)
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-02").status == "UNKNOWN"  # type: ignore[union-attr]
    await publisher.on_event(ChargerConnected(charge_point_id="CP-AMS-01",
                                              ocpp_version=OcppVersion.V16))
    await settle(publisher, outbox)
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-02").status == "AVAILABLE"  # type: ignore[union-attr]
    pushed = [r.body["status"] for r in receiver.of("PATCH")
              if r.path.endswith("AMS-ZUIDAS-02")]
    # the first two Available reports were overtaken by connector 0 before publishing:
    # partners get the state as it is when published, never a stale one
    assert pushed == ["INOPERATIVE", "AVAILABLE", "UNKNOWN", "AVAILABLE"]
    await outbox.stop()
    await publisher.stop()


async def test_hold_publishes_reserved_until_released(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    publisher, outbox, availability = await make_publisher(receiver, doc_store)
    await publisher.on_event(status("CP-UTR-01", 2, 1, ConnectorStatus.AVAILABLE))
    await settle(publisher, outbox)
    until = datetime.now(UTC) + timedelta(minutes=5)
    held = await availability.pick_and_hold("NL-UTR-JAARBEURS", ["UTR-JB-02"], holder="r1",
                                            until=until)
    assert held == "UTR-JB-02"
    await settle(publisher, outbox)
    assert publisher.evse("NL-UTR-JAARBEURS", "UTR-JB-02").status == "RESERVED"  # type: ignore[union-attr]
    # the policy still sees the charger's view plus the hold
    seen = await availability.get("NL-UTR-JAARBEURS", "UTR-JB-02")
    assert seen is not None and seen.status.value == "AVAILABLE" and seen.holder == "r1"
    await availability.release("NL-UTR-JAARBEURS", "UTR-JB-02", holder="r1")
    await settle(publisher, outbox)
    pushed = [r.body["status"] for r in receiver.of("PATCH") if r.path.endswith("UTR-JB-02")]
    assert pushed == ["AVAILABLE", "RESERVED", "AVAILABLE"]
    await outbox.stop()
    await publisher.stop()


async def test_hold_expiry_republishes(receiver: Peer, doc_store: DocumentStore) -> None:
    publisher, outbox, availability = await make_publisher(receiver, doc_store)
    await publisher.on_event(status("CP-UTR-01", 2, 1, ConnectorStatus.AVAILABLE))
    await settle(publisher, outbox)
    until = datetime.now(UTC) + timedelta(seconds=0.05)
    await availability.pick_and_hold("NL-UTR-JAARBEURS", ["UTR-JB-02"], holder="r", until=until)
    await settle(publisher, outbox)
    assert publisher.evse("NL-UTR-JAARBEURS", "UTR-JB-02").status == "RESERVED"  # type: ignore[union-attr]
    await asyncio.sleep(0.12)
    await settle(publisher, outbox)
    assert publisher.evse("NL-UTR-JAARBEURS", "UTR-JB-02").status == "AVAILABLE"  # type: ignore[union-attr]
    await outbox.stop()
    await publisher.stop()


async def test_reload_pushes_changes_and_marks_removed(
    receiver: Peer, doc_store: DocumentStore, tmp_path: Path
) -> None:
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    path = tmp_path / "locations.yaml"
    path.write_text(yaml.safe_dump(raw))
    publisher, outbox, _ = await make_publisher(receiver, doc_store, path=path)
    await settle(publisher, outbox)
    before = copy.deepcopy(publisher.published_doc("NL-AMS-ZUIDAS"))
    receiver.requests.clear()
    raw["locations"][1]["name"] = "P+R Jaarbeurs (Noord)"
    raw["locations"][1]["evses"].pop()  # UTR-JB-04 taken out of service
    path.write_text(yaml.safe_dump(raw))
    assert await publisher.reload() == ["NL-UTR-JAARBEURS"]
    assert await outbox.drain(5)
    [put] = receiver.of("PUT")
    assert put.body["name"] == "P+R Jaarbeurs (Noord)"
    removed = next(e for e in put.body["evses"] if e["uid"] == "UTR-JB-04")
    assert removed["status"] == "REMOVED"
    assert publisher.published_doc("NL-AMS-ZUIDAS") == before  # untouched, not pushed
    await outbox.stop()
    await publisher.stop()


async def test_restart_keeps_last_updated_of_unchanged_locations(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    publisher, outbox, _ = await make_publisher(receiver, doc_store)
    await settle(publisher, outbox)
    stamp = publisher.published_doc("NL-AMS-ZUIDAS")["last_updated"]  # type: ignore[index]
    await publisher.on_event(status("CP-UTR-01", 1, 1, ConnectorStatus.CHARGING))
    await settle(publisher, outbox)
    await outbox.stop()
    await publisher.stop()
    receiver.requests.clear()
    await asyncio.sleep(0.01)
    # a new process: in-process availability starts empty, so UTR-JB-01 is UNKNOWN again
    again, outbox2, _ = await make_publisher(receiver, doc_store)
    await settle(again, outbox2)
    assert again.published_doc("NL-AMS-ZUIDAS")["last_updated"] == stamp  # type: ignore[index]
    assert receiver.of("PUT") == []  # no configuration changed
    [patch] = receiver.of("PATCH")
    assert patch.path.endswith("/NL-UTR-JAARBEURS/UTR-JB-01")
    assert patch.body["status"] == "UNKNOWN"
    await outbox2.stop()
    await again.stop()


async def test_evse_with_two_connectors_shows_the_one_in_use(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    publisher, outbox, _ = await make_publisher(receiver, doc_store)
    await publisher.on_event(status("CP-AMS-02", 1, 1, ConnectorStatus.AVAILABLE))
    await publisher.on_event(status("CP-AMS-02", 1, 2, ConnectorStatus.FAULTED))
    await publisher.settle()
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-03").status == "AVAILABLE"  # type: ignore[union-attr]
    await publisher.on_event(status("CP-AMS-02", 1, 2, ConnectorStatus.SUSPENDED_EV))
    await publisher.settle()
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-03").status == "CHARGING"  # type: ignore[union-attr]
    await publisher.on_event(status("CP-AMS-02", 1, 2, ConnectorStatus.AVAILABLE))
    await publisher.on_event(status("CP-AMS-02", 9, 1, ConnectorStatus.FAULTED))  # unmapped
    await settle(publisher, outbox)
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-03").status == "AVAILABLE"  # type: ignore[union-attr]
    assert publisher.evse("NL-AMS-ZUIDAS", "AMS-ZUIDAS-04").status == "UNKNOWN"  # type: ignore[union-attr]
    await outbox.stop()
    await publisher.stop()


async def test_concurrent_enqueues_of_one_object_keep_their_order(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    outbox = engine(doc_store)
    await outbox.start()
    url = f"{receiver.url}/NL/EXA/L1"
    await asyncio.gather(*(outbox.enqueue("emsp", "PUT", url, {"n": n}) for n in range(30)))
    assert await outbox.drain(5)
    await outbox.stop()
    assert [r.body["n"] for r in receiver.requests] == list(range(30))


async def test_pushes_carry_routing_headers(receiver: Peer, doc_store: DocumentStore) -> None:
    # transport_and_format, Message Routing Headers: requests of functional modules carry
    # OCPI-from-* (the CPO owning the location) and OCPI-to-* (the receiving party), e.g. a
    # hub that has to route or broadcast the push.
    outbox = engine(doc_store)
    availability = MemoryAvailability()

    async def receivers() -> list[Receiver]:
        return [Receiver("hub", receiver.url, to_party=("NL", "HUB"))]

    publisher = LocationsPublisher(LocationsCatalog.from_file(EXAMPLE), availability,
                                   store=doc_store, outbox=outbox, receivers=receivers)
    await outbox.start()
    await publisher.start()
    await settle(publisher, outbox)
    await publisher.on_event(status("CP-AMS-01", None, 2, ConnectorStatus.CHARGING))
    await settle(publisher, outbox)
    await outbox.stop()
    await publisher.stop()
    sent = receiver.of("PUT") + receiver.of("PATCH")
    assert {r.method for r in sent} == {"PUT", "PATCH"}
    for recorded in sent:
        headers = {k.lower(): v for k, v in recorded.headers.items()}
        assert (headers.get("ocpi-from-country-code"), headers.get("ocpi-from-party-id"),
                headers.get("ocpi-to-country-code"), headers.get("ocpi-to-party-id")) == (
            "NL", "EXA", "NL", "HUB"), headers


async def test_401_after_a_token_change_is_retried_with_the_new_token(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    receiver.validate = False  # outbox mechanics: opaque bodies
    # credentials: a PUT rotates the token we send; until our cached headers catch up the
    # partner answers 401 to the old one. The push must survive that, not be dead-lettered.
    receiver.refuse_first, receiver.refuse_status = 2, 401
    tokens = iter(["old", "new"])
    seen: list[str] = []

    async def rotating(_partner: str) -> dict[str, str]:
        seen.append(next(tokens, "new"))
        return {"Authorization": f"Token {seen[-1]}"}

    outbox = DeliveryEngine(doc_store, rotating, policy=FAST)
    await outbox.start()
    await outbox.enqueue("emsp", "PUT", f"{receiver.url}/NL/EXA/L1", {"n": 1})
    assert await outbox.drain(5)
    await outbox.stop()
    assert [r.body["n"] for r in receiver.requests] == [1]
    assert await doc_store.count(COLLECTION) == 0
    assert seen[-1] == "new"  # the headers were read again after the 401


async def test_a_shared_sync_queued_before_our_own_change_does_not_swallow_its_push(
    receiver: Peer, doc_store: DocumentStore
) -> None:
    """Regression: the shared sync (adopting what other instances wrote) ran before the
    refresh this instance had queued for its own charger's status, adopted that status
    without a push, and the refresh then found nothing to push: the partner never heard."""
    publisher, outbox, _ = await make_publisher(receiver, doc_store)
    await settle(publisher, outbox)
    receiver.requests.clear()
    sync = asyncio.create_task(publisher.sync_shared())
    await asyncio.sleep(0)  # the sync is queued, not yet run
    await publisher.on_event(status("CP-UTR-01", 1, 1, ConnectorStatus.CHARGING))
    await sync
    await settle(publisher, outbox)
    patches = [r for r in receiver.of("PATCH") if r.path.endswith("/UTR-JB-01")]
    assert [p.body["status"] for p in patches] == ["CHARGING"]
    await outbox.stop()
    await publisher.stop()
