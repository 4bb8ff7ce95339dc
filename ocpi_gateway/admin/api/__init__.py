"""The admin API's HTTP side: one module per resource, each listing its operations."""

from __future__ import annotations

from ocpi_gateway.admin.api import meta, reload, session
from ocpi_gateway.admin.api.framework import Operation


def operations() -> list[Operation]:
    """Every operation of the admin API, in the order the document lists them."""
    return [*session.OPERATIONS, *meta.OPERATIONS, *reload.OPERATIONS]
