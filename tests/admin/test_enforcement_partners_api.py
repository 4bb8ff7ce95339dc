"""The admin API's sessions, CDRs, no-shows, bans and partners over HTTP: every answer checked
against the served OpenAPI document, filters and sorts passed as query parameters, bad ones
answered 400 naming them; lifting and setting a ban and revoking a partner, each audit-logged
with the operator who did it and refused to a viewer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ocpi_gateway import keys
from ocpi_gateway.admin.api import operations
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.cdrs.builder import session_cdr
from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.deliveries.models import Delivery
from ocpi_gateway.partners.grants import grants_from_options
from ocpi_gateway.reservation_policy.enforcement.bans import Ban, BanRepository, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import (
    NoShow,
    NoShowRepository,
    UnusedKind,
)
from ocpi_gateway.sessions.repository import SessionRepository
from tests.admin.support import AdminClient
from tests.peers.gateway import RunningGateway
from tests.sessions.factories import session

MakeClient = Callable[..., AdminClient]


def test_the_new_acts_are_operator_acts_in_the_table() -> None:
    acts = {op.action: op for op in operations() if op.action is not None}
    for name in ("lift_ban", "set_ban", "revoke_partner"):
        assert acts[name].role is Role.OPERATOR


async def test_sessions_cdrs_and_no_shows_are_listed_filtered_and_shown(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    store = gateway.app[keys.STORE]
    base = datetime.now(UTC) - timedelta(hours=1)
    one = session(id="S-1", last_updated=base)
    two = session(id="S-2", last_updated=base + timedelta(minutes=5), location_id="LOC-2")
    for s in (one, two):
        assert await SessionRepository(store).insert(s)
    assert await CdrRepository(store).insert(session_cdr(one, CdrKind.SESSION, now=base))
    await NoShowRepository(store).add(NoShow(
        kind=UnusedKind.RESERVATION, country_code="DE", party_id="EMS", token_uid="DEEMS0001",
        reference="R-9", location_id="LOC-1", evse_uid="E1", reserved_at=base,
        expired_at=base, recorded_at=base))
    viewer = new_client()
    assert (await viewer.login("victor")).status == 200

    listed = await viewer.call("GET", "/admin/api/sessions?token=DEEMS0001&sort=updated")
    assert listed.status == 200
    assert [s["id"] for s in listed.body["items"]] == ["S-1", "S-2"]
    site = await viewer.call("GET", "/admin/api/sessions?site=LOC-2&state=completed")
    assert [s["id"] for s in site.body["items"]] == ["S-2"]
    shown = await viewer.call("GET", "/admin/api/sessions/S-1")
    assert shown.status == 200 and len(shown.body["readings"]) == 3
    assert shown.body["emsp"] == "DE-EMS" and shown.body["token_uid"] == "DEEMS0001"
    assert (await viewer.call("GET", "/admin/api/sessions/NOPE")).status == 404
    bad = await viewer.call("GET", "/admin/api/sessions?sort=energy")
    assert bad.status == 400 and "query.sort" in bad.body["details"][0]

    cdrs = await viewer.call("GET", "/admin/api/cdrs?emsp=de-ems&kind=SESSION")
    assert [c["id"] for c in cdrs.body["items"]] == ["S-1"]
    cdr = await viewer.call("GET", "/admin/api/cdrs/S-1")
    assert cdr.status == 200 and cdr.body["periods"] and cdr.body["location_id"] == "LOC-1"
    assert (await viewer.call("GET", "/admin/api/cdrs?credit=true")).body["items"] == []

    no_shows = await viewer.call("GET", "/admin/api/no-shows?emsp=DE-EMS&token=deems0001")
    assert [n["reference"] for n in no_shows.body["items"]] == ["R-9"]
    later = (base + timedelta(minutes=1)).isoformat().replace("+", "%2B")
    assert (await viewer.call("GET", f"/admin/api/no-shows?from={later}")).body["items"] == []


async def test_an_operator_lifts_and_sets_bans_audited(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    store = gateway.app[keys.STORE]
    now = datetime.now(UTC)
    assert await BanRepository(store).write(Ban(
        country_code="DE", party_id="EMS", token_uid="TOK1", since=now - timedelta(days=1),
        until=now + timedelta(days=6), source=BanSource.NO_SHOWS, reason="3 no-shows",
        by="policy"), None)
    viewer, alice = new_client(), new_client()
    assert (await viewer.login("victor")).status == 200
    assert (await alice.login("alice")).status == 200

    in_force = await viewer.call("GET", "/admin/api/bans?in_force=true")
    assert [b["key"] for b in in_force.body["items"]] == ["DE-EMS/TOK1"]
    refused = await viewer.call("POST", "/admin/api/bans/DE-EMS/TOK1/lift", json={})
    assert refused.status == 403
    lifted = await alice.call("POST", "/admin/api/bans/de-ems/tok1/lift",
                              json={"reason": "driver called"})
    assert lifted.status == 200, lifted
    assert lifted.body["in_force"] is False and lifted.body["lifted_by"] == "alice"
    assert lifted.body["lift_reason"] == "driver called"
    assert (await viewer.call("GET", "/admin/api/bans?in_force=true")).body["items"] == []
    again = await alice.call("POST", "/admin/api/bans/DE-EMS/TOK1/lift", json={})
    assert again.status == 409 and "not banned" in again.body["message"]

    until = (now + timedelta(days=2)).isoformat()
    banned = await alice.call("PUT", "/admin/api/bans/DE-EMS/TOK2",
                              json={"until": until, "reason": "card reported stolen"})
    assert banned.status == 200, banned
    assert banned.body["source"] == "operator" and banned.body["by"] == "alice"
    assert banned.body["in_force"] is True
    replaced = await alice.call("PUT", "/admin/api/bans/DE-EMS/TOK1",
                                json={"days": 1, "reason": "again"})
    assert replaced.status == 200 and len(replaced.body["history"]) == 1
    assert replaced.body["history"][0]["lifted_by"] == "alice"
    past = await alice.call("PUT", "/admin/api/bans/DE-EMS/TOK3",
                            json={"until": (now - timedelta(days=1)).isoformat(),
                                  "reason": "x"})
    assert past.status == 400 and "future" in past.body["message"]
    both = await alice.call("PUT", "/admin/api/bans/DE-EMS/TOK3",
                            json={"until": until, "days": 1, "reason": "x"})
    assert both.status == 400
    wrong = await alice.call("PUT", "/admin/api/bans/NOT-A-PARTY/TOK3",
                             json={"days": 1, "reason": "x"})
    assert wrong.status == 404
    shown = await viewer.call("GET", "/admin/api/bans/DE-EMS/TOK1")
    assert shown.status == 200 and shown.body["reason"] == "again"
    # The gateway's admission sees it: the token is refused at its next reservation.
    refusal = await gateway.app[keys.STORE].get("token_bans", "DE-EMS/TOK2")
    assert refusal is not None and refusal["by"] == "alice"

    entries = await store.find(AUDIT, {"operator": "alice"}, order_by="at")
    acts = [(e["action"], e["target"].get("token_uid"), e["outcome"]) for e in entries
            if e["action"] != "login"]
    assert acts[:3] == [("lift_ban", "tok1", "ok"),
                        ("lift_ban", "TOK1", "refused: conflict: TOK1 of DE-EMS is not banned"),
                        ("set_ban", "TOK2", "ok")]
    assert entries[-1]["details"]["reason"] == "x"
    viewer_entries = await store.find(AUDIT, {"operator": "victor", "action": "lift_ban"})
    assert [e["outcome"] for e in viewer_entries] == ["refused: forbidden"]


async def test_partners_filtered_and_an_operator_revokes_one(
        gateway: RunningGateway, new_client: MakeClient) -> None:
    registry = gateway.partners
    emsp, _ = await registry.invite("eMSP One", grants_from_options(
        roles=["EMSP:DE-ONE"], hubs=[], forwards_for=[], any_role=False, helpdesk=False))
    hub, _ = await registry.invite("Hub", grants_from_options(
        roles=[], hubs=["DE-HUB"], forwards_for=["DE-ONE"], any_role=False, helpdesk=False))
    store = gateway.app[keys.STORE]
    waiting = Delivery(id="w1", partner_id=emsp.id, method="PUT", url="http://x/1",
                       ordering_key="k", seq=1)
    await store.put(OUTBOX, waiting.id, waiting.to_doc())
    viewer, alice = new_client(), new_client()
    assert (await viewer.login("victor")).status == 200
    assert (await alice.login("alice")).status == 200

    everyone = await viewer.call("GET", "/admin/api/partners")
    assert everyone.body["total"] == 2
    hubs = await viewer.call("GET", "/admin/api/partners?role=hub")
    [listed] = hubs.body["items"]
    assert listed["id"] == hub.id and listed["forwards_for"] == ["DE-ONE"]
    one = await viewer.call("GET", "/admin/api/partners?party=de*one")
    assert [p["id"] for p in one.body["items"]] == [emsp.id]
    assert one.body["items"][0]["granted_roles"] == [{"role": "EMSP", "party": "DE-ONE"}]
    assert (await viewer.call("GET", "/admin/api/partners?state=bogus")).status == 400

    assert (await viewer.call("POST", f"/admin/api/partners/{emsp.id}/revoke")).status == 403
    revoked = await alice.call("POST", f"/admin/api/partners/{emsp.id}/revoke")
    assert revoked.status == 200, revoked
    assert revoked.body["partner"]["state"] == "revoked" and revoked.body["dead_lettered"] == 1
    assert (await store.get(OUTBOX, "w1"))["dead"] is True  # type: ignore[index]
    assert (await registry.get(emsp.id)).state.value == "revoked"  # type: ignore[union-attr]
    gone = await alice.call("POST", "/admin/api/partners/nope/revoke")
    assert gone.status == 404
    state = await viewer.call("GET", "/admin/api/partners?state=revoked")
    assert [p["id"] for p in state.body["items"]] == [emsp.id]
    [entry] = await store.find(AUDIT, {"action": "revoke_partner", "outcome": "ok"})
    assert entry["operator"] == "alice" and entry["target"] == {"partner_id": emsp.id}
