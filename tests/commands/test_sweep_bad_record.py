"""One stored command the sweeper cannot read must not stop it settling the others: a RESERVE_NOW
record whose body no longer validates (written by an older release, or damaged) used to raise
out of every sweep, so every pending command stored after it waited for ever."""

from __future__ import annotations

import time

from ocpi_gateway.commands.handlers import COMMAND_SERVICE
from ocpi_gateway.commands.models import CommandType
from ocpi_gateway.commands.records import COLLECTION, CommandRecord, CommandRepository
from ocpi_gateway.tokens.handlers import TOKENS
from tests.commands.support import World, token


async def test_a_record_that_does_not_validate_leaves_the_rest_settled(world: World) -> None:
    store = world.gateway.app[TOKENS]._store
    [partner] = await world.gateway.partners.registered()
    records = CommandRepository(store)
    broken = {"response_url": world.emsp.response_url("broken"), "token": token(),
              "reservation_id": "R9"}  # no expiry_date, no location_id
    good = {"response_url": world.emsp.response_url("good"), "reservation_id": "R8"}
    # Created in this order: the sweeper meets the broken record first.
    for age, (name, command, body) in enumerate((
            ("broken", CommandType.RESERVE_NOW, broken),
            ("good", CommandType.CANCEL_RESERVATION, good))):
        await records.create(CommandRecord.new(
            created_at=time.time() - 120 + age, partner_id=partner.id, country_code="DE",
            party_id="EMS", command=command,
            body=body, response_url=world.emsp.response_url(name),
            deadline=time.time() - 60, instance_id="gw-dead"))

    service = world.gateway.app[COMMAND_SERVICE]
    await service.sweep()
    assert not await records.pending()
    # Both eMSP response_urls hear the end, the damaged record's included.
    assert (await world.result("good"))["result"] == "TIMEOUT"
    assert (await world.result("broken"))["result"] == "FAILED"
    assert await store.count(COLLECTION) == 2

