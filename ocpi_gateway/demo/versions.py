"""A second eMSP on OCPI 2.3.0 beside the first on 2.2.1 (it also books: ``bookings_act``),
both reserving at the same site, each served in its own version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ocpi_gateway import keys
from ocpi_gateway.demo.booking_emsp import BookingEmsp
from ocpi_gateway.demo.common import DemoFailed, iso
from ocpi_gateway.demo.emsp import EmspError, SimulatedEmsp
from ocpi_gateway.demo.setup import LOCATION_ID
from ocpi_gateway.partners.grants import grants_from_options
from ocpi_gateway.versions import versions_url

if TYPE_CHECKING:
    from ocpi_gateway.demo.script import Demo

NEW_PARTY = "DMN"


async def second_emsp(demo: Demo) -> BookingEmsp:
    """Register eMSP DE-DMN on 2.3.0 (with a Bookings receiver) and show what each version
    sees of the site. Returns the new eMSP, in ``demo.others`` (closed with the demo)."""
    n = demo.narrator
    assert demo.app is not None and demo.emsp is not None
    n.title("A second eMSP registers on OCPI 2.3.0; the first stays on 2.2.1")
    newer = BookingEmsp(party_id=NEW_PARTY, name="Second eMSP", traffic=demo.traffic)
    demo.others.append(newer)
    await newer.start()
    _, token_a = await demo.app[keys.PARTNERS].invite(
        "Second eMSP", grants_from_options(roles=[f"EMSP:DE-{NEW_PARTY}"]))
    try:
        await newer.register(versions_url(demo.url), token_a)
        site_new = next(loc for loc in await newer.read_locations() if loc["id"] == LOCATION_ID)
        site_old = next(loc for loc in await demo.emsp.read_locations()
                        if loc["id"] == LOCATION_ID)
    except (EmspError, StopIteration) as exc:
        raise DemoFailed(f"the 2.3.0 eMSP could not register or read: {exc}") from exc
    partners = {p.name: p.version for p in await demo.app[keys.PARTNERS].registered()}
    n.say("The gateway's versions list offers 2.2.1 and 2.3.0; each partner speaks the one it "
          "registered on: " + ", ".join(f"{k} on {v}" for k, v in sorted(partners.items()))
          + ".")
    n.say(f"2.3.0 view of {LOCATION_ID}: help_phone {site_new.get('help_phone')}, "
          f"{len(site_new.get('parking_places', []))} parking place(s).")
    n.say(f"2.2.1 view of the same site: help_phone {site_old.get('help_phone', 'absent')}, "
          f"parking places {len(site_old.get('parking_places', [])) or 'absent'} "
          "(2.2.1 cannot hold them).")
    return newer


async def both_reserve(demo: Demo, newer: SimulatedEmsp) -> None:
    """Both eMSPs reserve at the same site, each in its own version."""
    from ocpi_gateway.demo.script import DRIVER_TOKEN

    n = demo.narrator
    assert demo.emsp is not None
    n.title("Both eMSPs reserve at the same site, each in its own version")
    expiry = datetime.now(UTC) + timedelta(minutes=10)
    chosen: list[str] = []
    marks = {demo.emsp.party_id: len(demo.emsp.status_changes),
             newer.party_id: len(newer.status_changes)}
    for emsp, reservation_id, version in ((demo.emsp, "DEMO-RES-3", "2.2.1"),
                                          (newer, "DEMO-RES-4", "2.3.0")):
        token = {**DRIVER_TOKEN, "party_id": emsp.party_id,
                 "uid": f"{DRIVER_TOKEN['uid']}-{version}",
                 "contract_id": f"DE-{emsp.party_id}-C12345678-X"}
        body: dict[str, Any] = {"response_url": emsp.response_url(reservation_id),
                                "token": token, "expiry_date": iso(expiry),
                                "reservation_id": reservation_id, "location_id": LOCATION_ID}
        try:
            response = await emsp.command("RESERVE_NOW", body)
            result = await emsp.wait_result(reservation_id, 10)
        except EmspError as exc:
            raise DemoFailed(f"RESERVE_NOW {reservation_id} ({version}) failed: {exc}") from exc
        if response["result"] != "ACCEPTED" or result["result"] != "ACCEPTED":
            raise DemoFailed(f"{reservation_id} ({version}): {response['result']} / "
                             f"{result['result']}")
        evse = await _reserved_evse(demo, emsp.party_id, reservation_id)
        chosen.append(evse)
        n.say(f"eMSP DE-{emsp.party_id} (OCPI {version}): POST /ocpi/{version}/commands/"
              f"RESERVE_NOW {reservation_id} → ACCEPTED; the policy picked {evse}.")
    if len(set(chosen)) != 2:
        raise DemoFailed(f"both reservations got the same EVSE: {chosen}")
    for emsp, version in ((demo.emsp, "2.2.1"), (newer, "2.3.0")):
        try:
            for evse in chosen:
                await emsp.wait_status(evse, "RESERVED", 5, after=marks[emsp.party_id])
        except EmspError as exc:
            raise DemoFailed(f"the {version} eMSP missed a push: {exc}") from exc
        n.say(f"Locations pushes to DE-{emsp.party_id} in {version}: "
              + " and ".join(chosen) + " RESERVED.")


async def _reserved_evse(demo: Demo, party_id: str, reservation_id: str) -> str:
    from ocpi_gateway.reservation_policy.models import Partner
    from ocpi_gateway.reservations.extension import RESERVATIONS

    assert demo.app is not None
    record = await demo.app[RESERVATIONS].get(Partner("DE", party_id), reservation_id)
    if record is None or record.evse_uid is None:
        raise DemoFailed(f"no live reservation {reservation_id}")
    return record.evse_uid

