"""``partner_receivers`` over ``PartnerRegistry.registered_now``: the receivers are built
again only when the registry answers another list (a partner changed somewhere), hubs'
connected parties are asked on every read, and a partner that registers gets the next push."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocpi_gateway.locations.module import partner_receivers
from ocpi_gateway.partners.grants import Grants
from ocpi_gateway.partners.models import Partner, PartnerEndpoint, PartnerRole
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.store import open_store


def partner(pid: str, role: str = "EMSP") -> Partner:
    return Partner(id=pid, name=pid, state="registered", created_at="", updated_at="",
                   roles=[PartnerRole(role=role, country_code="DE", party_id=pid.upper()[:3])],
                   endpoints=[PartnerEndpoint(identifier="locations", role="RECEIVER",
                                              url=f"http://{pid}/locations")])


async def test_the_same_list_is_not_read_again_and_a_new_one_is() -> None:
    built = 0

    class Counting(Partner):
        def endpoint(self, identifier: str, role: str | None = None) -> str | None:
            nonlocal built
            built += 1
            return super().endpoint(identifier, role)

    one = [Counting.model_validate(partner("one").model_dump())]
    answer: list[Any] = one

    async def registered() -> list[Any]:
        return answer

    receivers = partner_receivers(registered)
    assert [r.partner_id for r in await receivers()] == ["one"]
    assert [r.partner_id for r in await receivers()] == ["one"]
    assert built == 1
    answer = [*one, Counting.model_validate(partner("two").model_dump())]
    assert [r.partner_id for r in await receivers()] == ["one", "two"]
    assert built == 3
    answer = one
    assert [r.partner_id for r in await receivers()] == ["one"]


async def test_a_hubs_parties_are_asked_on_every_read() -> None:
    reported: list[tuple[str, str]] = [("DE", "AAA")]
    partners = [partner("emsp"), partner("hub", role="HUB")]

    async def registered() -> list[Partner]:
        return partners

    async def hub_parties(_hub: Any) -> list[tuple[str, str]] | None:
        return list(reported)

    receivers = partner_receivers(registered, hub_parties=hub_parties)
    assert [(r.partner_id, r.to_party) for r in await receivers()] == [
        ("emsp", ("DE", "EMS")), ("hub", ("DE", "AAA"))]
    reported.append(("DE", "BBB"))
    assert [(r.partner_id, r.to_party) for r in await receivers()] == [
        ("emsp", ("DE", "EMS")), ("hub", ("DE", "AAA")), ("hub", ("DE", "BBB"))]


async def test_a_partner_registered_meanwhile_is_a_receiver_of_the_next_push(
    tmp_path: Path,
) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    other = await open_store(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        registry = PartnerRegistry(store)
        receivers = partner_receivers(registry.registered_now)

        async def register(on: PartnerRegistry, name: str, party: str) -> None:
            created = await on.create(name, Grants(any_role=True))
            await on.register(
                created, roles=[PartnerRole(role="EMSP", country_code="DE", party_id=party)],
                versions_url=f"http://{name}/versions", version="2.2.1",
                endpoints=[PartnerEndpoint(identifier="locations", role="RECEIVER",
                                           url=f"http://{name}/locations")],
                token_to_send=f"token-{name}", send_base64=True)

        await register(registry, "first", "AAA")
        assert [r.url for r in await receivers()] == ["http://first/locations"]
        # Registered through another instance sharing the store: seen through the epoch.
        await register(PartnerRegistry(other), "second", "BBB")
        assert [r.url for r in await receivers()] == ["http://first/locations",
                                                      "http://second/locations"]
    finally:
        await other.close()
        await store.close()
