"""How a session reaches its eMSP: PUT first, PATCHes after (only the periods closed since),
PUT again when this process cannot know what the eMSP holds; a PATCH the eMSP refuses is
repaired by GET-then-PUT; nothing goes to an eMSP without a Sessions receiver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.partners.models import Partner, PartnerEndpoint, PartnerRole, PartnerState
from ocpi_gateway.sessions.models import Session, SessionStatus
from ocpi_gateway.sessions.publisher import RESYNC_KIND, SessionsPublisher
from tests.commands.support import eventually, token
from tests.openapi import validate_request
from tests.sessions.factories import at, readings, session
from tests.sessions.support import Rig, meter16, start16


@dataclass
class FakeOutbox:
    queued: list[dict[str, Any]] = field(default_factory=list)
    resync: dict[str, Any] = field(default_factory=dict)

    def register_resync(self, kind: str, provider: Any) -> None:
        self.resync[kind] = provider

    async def enqueue(self, partner_id: str, method: str, url: str, body: Any = None,
                      **options: Any) -> None:
        self.queued.append({"partner": partner_id, "method": method, "url": url,
                            "body": body, **options})


class Repo:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}

    async def get(self, session_id: str) -> Session | None:
        return self.sessions.get(session_id)


def emsp(version: str = "2.2.1", url: str = "http://emsp.example/sessions") -> Partner:
    return Partner(id="P1", name="eMSP", state=PartnerState.REGISTERED, version=version,
                   roles=[PartnerRole(role="EMSP", country_code="DE", party_id="EMS")],
                   endpoints=[PartnerEndpoint(identifier="sessions", role="RECEIVER",
                                              url=url)],
                   created_at="x", updated_at="x")


def publisher(partners: list[Partner]) -> tuple[SessionsPublisher, FakeOutbox, Repo]:
    """``partners`` as the registry gives them: one list object until a partner changes
    (a test changes them in place: a new list is handed out after each change)."""
    repo = Repo()
    seen: list[list[Partner]] = []

    async def registered() -> list[Partner]:
        if not seen or seen[-1] != partners:
            seen.append(list(partners))
        return seen[-1]

    pub = SessionsPublisher(repo, registered=registered,  # type: ignore[arg-type]
                            clock=lambda: at(60))
    outbox = FakeOutbox()
    pub.attach(outbox)  # type: ignore[arg-type]
    return pub, outbox, repo


def running(*points: tuple[float, float]) -> Session:
    return session(status=SessionStatus.ACTIVE, end_date_time=None, tariff=None,
                   readings=readings(*points))


async def test_a_put_then_patches_adding_the_closed_periods() -> None:
    pub, outbox, _ = publisher([emsp()])
    first = running((10, 0), (20, 1000))
    await pub.on_change(first, None)
    second = running((10, 0), (20, 1000), (30, 2500))
    await pub.on_change(second, first)
    third = running((10, 0), (20, 1000), (30, 2500), (40, 3000))
    await pub.on_change(third, second)
    assert [q["method"] for q in outbox.queued] == ["PUT", "PATCH", "PATCH"]
    put, patch1, patch2 = (q["body"] for q in outbox.queued)
    assert put["charging_periods"] == []  # the only period is still open
    assert [p["start_date_time"][11:16] for p in patch1["charging_periods"]] == ["09:10"]
    assert [p["start_date_time"][11:16] for p in patch2["charging_periods"]] == ["09:20"]
    assert patch2["kwh"] == 3.0 and "cdr_token" not in patch2
    for q in outbox.queued:
        assert q["url"] == "http://emsp.example/sessions/NL/EXA/S1"
        assert q["ordering_key"] == q["url"]
        assert q["resync"] == {"kind": RESYNC_KIND, "session_id": "S1", "version": "2.2.1"}
        assert q["headers"] == {"OCPI-from-country-code": "NL", "OCPI-from-party-id": "EXA",
                                "OCPI-to-country-code": "DE", "OCPI-to-party-id": "EMS"}
        validate_request("2.2.1", q["method"], "/sessions/NL/EXA/S1", q["body"])


async def test_periods_that_changed_are_put_whole() -> None:
    pub, outbox, _ = publisher([emsp()])
    first = running((10, 0), (20, 1000), (30, 2000))
    await pub.on_change(first, None)
    rewritten = running((10, 0), (15, 400), (30, 2000), (40, 2500))
    await pub.on_change(rewritten, first)
    assert [q["method"] for q in outbox.queued] == ["PUT", "PUT"]


async def test_a_partner_on_another_version_gets_a_put() -> None:
    partners = [emsp("2.2.1")]
    pub, outbox, _ = publisher(partners)
    first = running((10, 0), (20, 1000))
    await pub.on_change(first, None)
    partners[0] = emsp("2.3.0")
    await pub.on_change(running((10, 0), (20, 1000), (30, 2000)), first)
    assert [(q["method"], q["resync"]["version"]) for q in outbox.queued] == [
        ("PUT", "2.2.1"), ("PUT", "2.3.0")]
    validate_request("2.3.0", "PUT", "/sessions/NL/EXA/S1", outbox.queued[1]["body"])


async def test_a_finished_session_is_forgotten_after_its_last_push() -> None:
    pub, outbox, _ = publisher([emsp()])
    first = running((10, 0), (20, 1000))
    await pub.on_change(first, None)
    done = session(tariff=None, readings=readings((10, 0), (20, 1000), (40, 3000)))
    await pub.on_change(done, first)
    await pub.on_change(done, done)  # told again (e.g. another listener's retry)
    assert [q["method"] for q in outbox.queued] == ["PUT", "PATCH", "PUT"]
    assert outbox.queued[1]["body"]["status"] == "COMPLETED"


async def test_nothing_for_nobody_or_an_emsp_without_a_receiver() -> None:
    pub, outbox, _ = publisher([emsp(), Partner(
        id="P2", name="other", state=PartnerState.REGISTERED,
        roles=[PartnerRole(role="EMSP", country_code="FR", party_id="OTH")],
        created_at="x", updated_at="x")])
    await pub.on_change(running((10, 0)).model_copy(update={"token": None}), None)
    other = running((10, 0)).model_copy(update={"token": token_of("FR", "OTH")})
    await pub.on_change(other, None)
    assert outbox.queued == []


async def test_a_refused_patch_is_repaired_with_the_whole_session() -> None:
    pub, outbox, repo = publisher([emsp("2.3.0")])
    first = running((10, 0), (20, 1000))
    await pub.on_change(first, None)
    repo.sessions["S1"] = running((10, 0), (20, 1000), (30, 2000))
    delivery = Delivery(id="d", partner_id="P1", method="PATCH",
                        url="http://emsp.example/sessions/NL/EXA/S1", ordering_key="k",
                        seq=1, resync=outbox.queued[0]["resync"])
    url, body = await outbox.resync[RESYNC_KIND](delivery)
    assert url == delivery.url
    assert body["kwh"] == 2.0 and len(body["charging_periods"]) == 1
    validate_request("2.3.0", "PUT", "/sessions/NL/EXA/S1", body)
    # What was sent is no longer known: the next change is a PUT.
    await pub.on_change(repo.sessions["S1"], first)
    assert outbox.queued[-1]["method"] == "PUT"
    repo.sessions.clear()
    assert await outbox.resync[RESYNC_KIND](delivery) is None


def token_of(country_code: str, party_id: str) -> Any:
    return session().token.model_copy(  # type: ignore[union-attr]
        update={"country_code": country_code, "party_id": party_id})


async def test_an_emsp_that_lost_the_session_gets_it_whole_again(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    await world.all_available()
    _, body, _ = await world.emsp.call(
        "PUT", f"{world.gateway.url}/ocpi/2.2.1/tokens/DE/EMS/DEEMS0001", json=token())
    assert body["status_code"] == 1000
    tx = await start16(world, clock)
    session_id = await eventually(lambda: next(iter(world.emsp.sessions), None))
    assert session_id is not None
    world.emsp.sessions.clear()  # the eMSP's database was restored from last week
    clock.advance(minutes=10)
    await meter16(world, clock, tx, 1000)
    again = await eventually(lambda: world.emsp.sessions.get(session_id))
    assert again is not None and again["kwh"] == 1 and again["cdr_token"]["uid"] == "DEEMS0001"
    methods = [m for m, sid, _ in world.emsp.session_pushes if sid == session_id]
    assert methods == ["PUT", "PATCH", "PUT"]  # the PATCH refused, then GET-then-PUT
    gets = [r for r in world.emsp.received if r.method == "GET" and session_id in r.path]
    assert len(gets) == 1
