"""What the outbox POSTs and the store keeps of a CDR: each version's ``body`` is that
version's CDR as JSON (the tariffs' JSON made once per tariff, valid against the official
OpenAPI), the stored document is the CDR's whole dump (the tariffs' too), and a tariff
changed by a reload under the same id and ``last_updated`` shows as it is now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ocpi_gateway.cdrs.builder import credit_of, session_cdr
from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.sessions.models import HoldEnd, HoldKind
from ocpi_gateway.tariffs.models import Tariff
from tests.openapi import validate_request
from tests.sessions.factories import TARIFF, at, hold, session

VERSIONS = ("2.2.1", "2.3.0")

BOOKING_ONLY = Tariff.model_validate({
    "id": "B1", "currency": "EUR", "country_code": "NL", "party_id": "EXA",
    "last_updated": "2026-11-30T00:00:00Z", "elements": [
        {"price_components": [{"type": "TIME", "price": "3.00", "vat": 21, "step_size": 60}],
         "restrictions": {"booking": "BOOKING"}}]})


def cdrs() -> list[Cdr]:
    charged = session_cdr(session(hold=hold(end=at(10), ended=HoldEnd.USED),
                                  authorization_reference="AR1"), CdrKind.SESSION, now=at(41))
    no_show = session_cdr(session(id="S2", transaction_id=None, readings=(),
                                  start_date_time=at(0), end_date_time=at(15),
                                  hold=hold(end=at(15), ended=HoldEnd.EXPIRED)),
                          CdrKind.RESERVATION, now=at(16))
    untariffed = session_cdr(session(id="S3", tariff=None), CdrKind.SESSION, now=at(41))
    booked = session_cdr(session(id="S4", tariff=BOOKING_ONLY, hold=hold(
        key="DE-EMS/B1", kind=HoldKind.BOOKING, booking_id="BK1", end=at(10),
        ended=HoldEnd.USED)), CdrKind.SESSION, now=at(41))
    return [charged, no_show, untariffed, booked,
            credit_of(no_show, now=at(20), remark="Credited: the EVSE was FAULTED")]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_body_posted_is_the_versions_cdr(version: str) -> None:
    mapping = package(version).cdrs
    for cdr in cdrs():
        body = mapping.body(cdr)
        assert body == to_jsonable(mapping.cdr(cdr)), cdr.id
        validate_request(version, "POST", "/cdrs", body)


def test_a_tariff_a_version_cannot_show_is_left_out_of_its_body() -> None:
    booked = cdrs()[3]
    assert "tariffs" not in package("2.2.1").cdrs.body(booked)
    assert [t["id"] for t in package("2.3.0").cdrs.body(booked)["tariffs"]] == ["B1"]


def _reloaded(tariff: Tariff, price: str) -> Tariff:
    """The tariff after the operator changed its prices, same id, same last_updated."""
    raw: dict[str, Any] = tariff.model_dump(mode="json")
    for element in raw["elements"]:
        for component in element["price_components"]:
            component["price"] = price
    return Tariff.model_validate(raw)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_tariff_changed_under_the_same_id_shows_as_it_is_now(version: str) -> None:
    mapping = package(version).cdrs
    before = session_cdr(session(), CdrKind.SESSION, now=at(41))
    assert _prices(mapping.body(before)) == {"0.3", "2.0", "5.0", "1.2"}
    changed = _reloaded(TARIFF, "9.99")
    assert changed.last_updated == TARIFF.last_updated and changed.id == TARIFF.id
    after = session_cdr(session(id="S9", tariff=changed), CdrKind.SESSION, now=at(41))
    assert _prices(mapping.body(after)) == {"9.99"}
    assert _prices(mapping.body(before)) == {"0.3", "2.0", "5.0", "1.2"}
    assert _prices(to_jsonable(mapping.cdr(after))) == {"9.99"}


def _prices(body: dict[str, Any]) -> set[str]:
    return {str(c["price"]) for t in body["tariffs"] for e in t["elements"]
            for c in e["price_components"]}


def test_the_stored_document_is_the_whole_cdr() -> None:
    for cdr in cdrs():
        doc = cdr.to_doc()
        assert doc == {**cdr.model_dump(mode="json"), "emsp_key": cdr.emsp_key,
                       "last_updated_ts": cdr.last_updated.timestamp()}, cdr.id
        assert Cdr.from_doc(doc) == cdr


def test_the_stored_document_shows_a_reloaded_tariff_as_it_is() -> None:
    before = session_cdr(session(), CdrKind.SESSION, now=at(41))
    after = session_cdr(session(id="S9", tariff=_reloaded(TARIFF, "7.77")), CdrKind.SESSION,
                        now=at(41) + timedelta(seconds=1))
    prices = [{c["price"] for e in d["tariffs"][0]["elements"] for c in e["price_components"]}
              for d in (before.to_doc(), after.to_doc())]
    assert prices[1] == {"7.77"} and "7.77" not in prices[0]
    assert Cdr.from_doc(after.to_doc()).tariffs == after.tariffs
