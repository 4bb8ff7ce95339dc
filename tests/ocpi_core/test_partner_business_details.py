"""A partner's business details are a typed object, stored in the shape earlier releases
wrote (the fields the partner sent, none as null): records written before load unchanged, and
a record saved again is the same document, so no migration is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ocpi_gateway.ocpi import package
from ocpi_gateway.partners.models import BusinessDetails, Image, Partner, PartnerRole
from ocpi_gateway.partners.registry import PARTNERS, PartnerRegistry
from ocpi_gateway.store.factory import open_store

LOGO = {"url": "https://emsp.example/logo.png", "category": "OPERATOR", "type": "png",
        "width": 64}
OLD_ROLES: list[dict[str, Any]] = [
    {"role": "EMSP", "country_code": "DE", "party_id": "ABC",
     "business_details": {"name": "Example", "website": "https://emsp.example", "logo": LOGO}},
    {"role": "EMSP", "country_code": "DE", "party_id": "ABD",
     "business_details": {"name": "Second brand"}},
    {"role": "EMSP", "country_code": "DE", "party_id": "ABE", "business_details": None}]
OLD_RECORD: dict[str, Any] = {
    "id": "p1", "name": "Example eMSP", "state": "registered",
    "roles": OLD_ROLES,
    "versions_url": "https://emsp.example/versions", "version": "2.2.1", "endpoints": [],
    "token_to_send": "b", "send_base64": True,
    "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:00.000Z",
    "revision": 1,
    "grants": {"roles": [], "migrated": False},
}


async def test_a_record_of_an_earlier_release_loads_typed_and_is_saved_unchanged(
    tmp_path: Path,
) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'gateway.db'}")
    try:
        await store.put(PARTNERS, "p1", OLD_RECORD)
        registry = PartnerRegistry(store)
        partner = await registry.get("p1")
        assert partner is not None
        first, second, third = (r.business_details for r in partner.roles)
        assert isinstance(first, BusinessDetails) and isinstance(first.logo, Image)
        assert (first.name, first.website, first.logo.width) == (
            "Example", "https://emsp.example", 64)
        assert second == BusinessDetails(name="Second brand") and third is None
        await registry.save(partner)
        saved = await store.get(PARTNERS, "p1")
        assert saved is not None
        assert [r["business_details"] for r in saved["roles"]] == [
            r["business_details"] for r in OLD_ROLES]
        assert {k: v for k, v in saved.items() if k != "updated_at"} == {
            k: v for k, v in Partner.model_validate(OLD_RECORD).model_dump(mode="json").items()
            if k != "updated_at"}
    finally:
        await store.close()


def test_a_role_refuses_business_details_no_version_could_have_sent() -> None:
    with pytest.raises(ValidationError, match=r"business_details\.name"):
        PartnerRole.model_validate({"role": "EMSP", "country_code": "DE", "party_id": "ABC",
                                    "business_details": {"name": "x" * 101}})
    with pytest.raises(ValidationError, match=r"business_details\.logo\.category"):
        PartnerRole.model_validate({"role": "EMSP", "country_code": "DE", "party_id": "ABC",
                                    "business_details": {"name": "x", "logo": {
                                        "url": "https://x.example/l.png", "type": "png"}}})


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
def test_credentials_of_either_version_give_typed_business_details(version: str) -> None:
    credentials = package(version).credentials.parse({
        "token": "b", "url": "https://emsp.example/versions",
        "roles": [{"role": "EMSP", "country_code": "de", "party_id": "abc",
                   "business_details": {"name": "Example", "logo": LOGO,
                                        "unknown": "kept out"}}]})
    [role] = credentials.partner_roles()
    assert role.business_details == BusinessDetails(name="Example", logo=Image(**LOGO))
    assert role.model_dump(mode="json")["business_details"] == {"name": "Example",
                                                                "logo": LOGO}
