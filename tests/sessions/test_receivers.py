"""Who receives a party's Sessions and CDRs: the partner holding the role, else a hub the
operator lets forward for it; the partners as read once per change anywhere (the epoch)."""

from __future__ import annotations

from pathlib import Path

from ocpi_gateway.partners.grants import GrantedParty, GrantedRole, Grants
from ocpi_gateway.partners.models import Partner, PartnerEndpoint, PartnerRole, PartnerState
from ocpi_gateway.partners.receivers import ReceiverIndex, receiver_for
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.store import open_store


def partner(pid: str, role: str, party: str, *, cdrs: bool = True, version: str | None = None,
            forwards_for: tuple[str, ...] = ()) -> Partner:
    endpoints = [PartnerEndpoint(identifier="cdrs", role="RECEIVER",
                                 url=f"http://{pid}.example/cdrs/")] if cdrs else []
    return Partner(
        id=pid, name=pid, state=PartnerState.REGISTERED, version=version,
        roles=[PartnerRole(role=role, country_code=party[:2], party_id=party[3:])],
        endpoints=endpoints, created_at="2026-12-01T00:00:00Z",
        updated_at="2026-12-01T00:00:00Z",
        grants=Grants(roles=[GrantedRole(role=role, country_code=party[:2],
                                         party_id=party[3:])],
                      forwards_for=[GrantedParty(country_code=p[:2], party_id=p[3:])
                                    for p in forwards_for]))


def test_the_party_itself_first_then_a_hub_forwarding_for_it() -> None:
    hub = partner("hub", "HUB", "NL-HUB", forwards_for=("DE-EMS", "FR-OTH"))
    emsp = partner("emsp", "EMSP", "DE-EMS", version="2.3.0")
    found = receiver_for([hub, emsp], "cdrs", "de", "ems")
    assert found is not None
    assert (found.partner_id, found.url, found.version, found.to_party) == (
        "emsp", "http://emsp.example/cdrs", "2.3.0", ("de", "ems"))
    via_hub = receiver_for([hub, emsp], "cdrs", "FR", "OTH")
    assert via_hub is not None and via_hub.partner_id == "hub"
    assert via_hub.version == "2.2.1"  # a partner without a version speaks the default


def test_no_receiver_without_the_endpoint_the_role_or_the_grant() -> None:
    assert receiver_for([partner("emsp", "EMSP", "DE-EMS", cdrs=False)], "cdrs",
                        "DE", "EMS") is None
    assert receiver_for([partner("emsp", "EMSP", "DE-EMS")], "sessions", "DE", "EMS") is None
    assert receiver_for([partner("other", "EMSP", "DE-OTH")], "cdrs", "DE", "EMS") is None
    # A hub not granted to forward for the party, or an eMSP granted to (it is no hub).
    assert receiver_for([partner("hub", "HUB", "NL-HUB")], "cdrs", "DE", "EMS") is None
    assert receiver_for([partner("x", "EMSP", "NL-XXX", forwards_for=("DE-EMS",))], "cdrs",
                        "DE", "EMS") is None


def test_the_index_answers_again_for_a_new_list() -> None:
    index = ReceiverIndex("cdrs")
    first = [partner("emsp", "EMSP", "DE-EMS")]
    found = index.find(first, "DE", "EMS")
    assert found is not None and found.partner_id == "emsp"
    assert index.find(first, "de", "ems") is found
    moved = [partner("emsp2", "EMSP", "DE-EMS")]
    again = index.find(moved, "DE", "EMS")
    assert again is not None and again.partner_id == "emsp2"
    assert index.find(moved, "FR", "OTH") is None


async def test_registered_now_sees_a_change_on_another_instance_at_once(
        tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        here, there = PartnerRegistry(store), PartnerRegistry(store)
        await here.save(partner("a", "EMSP", "DE-AAA"))
        first = await here.registered_now()
        assert [p.id for p in first] == ["a"]
        assert await here.registered_now() is first  # nothing changed: no read
        await there.save(partner("b", "EMSP", "DE-BBB"))
        assert sorted(p.id for p in await here.registered_now()) == ["a", "b"]
        await here.save(partner("c", "EMSP", "DE-CCC"))
        assert sorted(p.id for p in await here.registered_now()) == ["a", "b", "c"]
    finally:
        await store.close()
