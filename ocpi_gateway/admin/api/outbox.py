"""``/admin/api/outbox``: deliveries pending, retrying, and the dead letters."""

from __future__ import annotations

from pydantic import BaseModel

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.api.reads import found, paged
from ocpi_gateway.admin.service.outbox import (
    DeliveryView,
    OutboxFilter,
    OutboxPage,
    counts,
    get_delivery,
    list_deliveries,
)

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


OPERATIONS = [
    Operation("GET", "/admin/api/outbox", deliveries, "deliveries, newest first: pending, "
              "retrying or dead", TAG, query=OutboxFilter, response=OutboxPage, errors=(400,)),
    Operation("GET", "/admin/api/outbox/counts", outbox_counts, "how many of each", TAG,
              response=OutboxCounts, errors=()),
    Operation("GET", "/admin/api/outbox/{delivery_id}", delivery, "one delivery, with its body",
              TAG, response=DeliveryView, errors=(404,)),
]
