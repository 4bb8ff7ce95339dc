"""RESERVE_NOW end to end: eMSP POST → policy → OCPP ReserveNow → CommandResult at response_url."""

from __future__ import annotations

from tests.commands.support import CP16, World


async def test_location_level_reservation_is_accepted(world: World) -> None:
    await world.all_available()
    reply = await world.command("RESERVE_NOW", world.reserve_body("r1"))
    assert reply["status_code"] == 1000
    assert reply["data"]["result"] == "ACCEPTED"
    assert reply["data"]["timeout"] == 4
    result = await world.result("r1")
    assert result["result"] == "ACCEPTED"
    sent = world.all_received("ReserveNow")
    assert len(sent) == 1
    cp_id, payload = sent[0]
    # The eMSP's reservation_id never reaches the charger: an integer the gateway generated.
    assert isinstance(payload["reservation_id"], int)
    if cp_id == CP16:
        assert payload["id_tag"] == "DEEMS0001"
    else:
        assert payload["id_token"]["id_token"] == "DEEMS0001"

