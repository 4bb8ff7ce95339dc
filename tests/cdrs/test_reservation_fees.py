"""Every fee a CDR charges for a reservation or booking is logged with its ids and counted
by what it is for (the CDR service on its own, as in test_service.py)."""

from __future__ import annotations

from structlog.testing import capture_logs

from ocpi_gateway.metrics import REGISTRY
from ocpi_gateway.sessions.models import HoldEnd
from tests.cdrs.test_service import Rig, no_show, rig, store  # noqa: F401 (fixtures)
from tests.sessions.factories import TARIFF, at, hold, session


def fees(kind: str) -> tuple[float, float]:
    return (REGISTRY.get_sample_value("ocpi_reservation_fees_total", {"kind": kind}) or 0.0,
            REGISTRY.get_sample_value("ocpi_reservation_fee_amount_total",
                                      {"kind": kind, "currency": "EUR"}) or 0.0)


async def test_a_no_show_fee_is_logged_and_counted(rig: Rig) -> None:  # noqa: F811
    count, amount = fees("no_show")
    with capture_logs() as logs:
        await rig.service.on_session(no_show(), None)
    [cdr] = rig.publisher.sent
    assert cdr.total_reservation_cost is not None
    charged = float(cdr.total_reservation_cost.before_taxes)
    assert charged > 0
    assert fees("no_show") == (count + 1, amount + charged)
    [line] = [e for e in logs if e["event"] == "reservation_fee_charged"]
    assert (line["fee"], line["cdr_id"], line["hold_key"], line["token_uid"],
            line["location_id"], line["currency"], line["amount_before_taxes"]) == (
        "no_show", "S1", "DE-EMS/R1", "DEEMS0001", "LOC-1", "EUR",
        str(cdr.total_reservation_cost.before_taxes))


async def test_a_late_cancellation_and_a_used_reservation_are_counted_apart(
        rig: Rig) -> None:  # noqa: F811
    cancelled, used = fees("cancellation"), fees("reservation")
    await rig.service.on_session(no_show(hold=hold(end=at(20), ended=HoldEnd.CANCELLED,
                                                   free_until=at(5))), None)
    await rig.service.on_session(session(id="S2", hold=hold(key="K2", end=at(10),
                                                            ended=HoldEnd.USED)), None)
    assert fees("cancellation")[0] == cancelled[0] + 1
    assert fees("reservation")[0] == used[0] + 1
    assert [c.hold_end for c in rig.publisher.sent] == [HoldEnd.CANCELLED, HoldEnd.USED]


async def test_no_fee_without_a_reservation_cost_nor_in_a_credit(rig: Rig) -> None:  # noqa: F811
    before = {kind: fees(kind)[0] for kind in ("no_show", "reservation", "cancellation")}
    with capture_logs() as logs:
        await rig.service.on_session(session(), None)  # no reservation at all
        free = TARIFF.model_copy(update={"elements": TARIFF.elements[:2]})
        await rig.service.on_session(session(id="S2", tariff=free, hold=hold(
            key="K2", end=at(10), ended=HoldEnd.USED)), None)  # its tariff prices none
    assert [e for e in logs if e["event"] == "reservation_fee_charged"] == []
    await rig.service.on_session(no_show(id="S3", hold=hold(key="K3", end=at(30),
                                                            ended=HoldEnd.EXPIRED)), None)
    after_charge = fees("no_show")[0]
    assert await rig.service.credit("S3", "goodwill") is not None
    assert fees("no_show")[0] == after_charge == before["no_show"] + 1
    assert fees("reservation")[0] == before["reservation"]
