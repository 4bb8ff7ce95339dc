"""``/admin/api/outbox``: deliveries pending, retrying, and the dead letters."""

from __future__ import annotations

import time

from pydantic import BaseModel

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import found, operator, paged, served
from ocpi_gateway.admin.operators import Role
from ocpi_gateway.admin.service.outbox import (
    DeliveryView,
    OutboxFilter,
    OutboxPage,
    counts,
    drop_dead_letter,
    get_delivery,
    list_deliveries,
    retry_dead_letter,
)
from ocpi_gateway.deliveries.app import OUTBOX

TAG = "outbox"


class OutboxCounts(BaseModel):
    pending: int
    retrying: int
    dead: int


async def deliveries(call: Call) -> OutboxPage:
    return await paged(lambda: list_deliveries(call.app[keys.STORE], call.query))


async def outbox_counts(call: Call) -> OutboxCounts:
    return OutboxCounts(**await counts(call.app[keys.STORE]))


async def delivery(call: Call) -> DeliveryView:
    return await found(get_delivery(call.app[keys.STORE], call.path["delivery_id"]),
                       f"delivery {call.path['delivery_id']}")


async def retry(call: Call) -> DeliveryView:
    store = call.app[keys.STORE]
    done = await served(lambda: retry_dead_letter(
        store, call.app[keys.PARTNERS], call.path["delivery_id"], operator=operator(call),
        now=time.time()))
    outbox = call.app.get(OUTBOX)
    if outbox is not None:
        # This instance takes it at once rather than at its next heartbeat.
        await outbox.adopt_orphans()
    return done


async def drop(call: Call) -> DeliveryView:
    return await served(lambda: drop_dead_letter(call.app[keys.STORE], call.path["delivery_id"],
                                                 operator=operator(call)))


OPERATIONS = [
    Operation("GET", "/admin/api/outbox", deliveries, "deliveries, newest first: pending, "
              "retrying or dead", TAG, query=OutboxFilter, response=OutboxPage, errors=(400,)),
    Operation("GET", "/admin/api/outbox/counts", outbox_counts, "how many of each", TAG,
              response=OutboxCounts, errors=()),
    Operation("GET", "/admin/api/outbox/{delivery_id}", delivery, "one delivery, with its body",
              TAG, response=DeliveryView, errors=(404,)),
    Operation("POST", "/admin/api/outbox/{delivery_id}/retry", retry, "send a dead letter "
              "again (attempts from zero, due now; a Locations object as it is now)", TAG,
              role=Role.OPERATOR, response=DeliveryView, action="retry_dead_letter",
              errors=(404, 409), description="Refused (409) for a delivery that is not dead "
              "and for a partner that is no longer registered. Any running instance takes it "
              "(this one at once)."),
    Operation("DELETE", "/admin/api/outbox/{delivery_id}", drop, "drop a dead letter for "
              "good", TAG, role=Role.OPERATOR, response=DeliveryView,
              action="drop_dead_letter", errors=(404, 409)),
]
