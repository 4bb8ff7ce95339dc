"""Reading CDRs as the eMSP got them, in either version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.commands.support import World, eventually


def amount(price: dict[str, Any], version: str) -> Decimal:
    """A Price's amount before taxes."""
    return Decimal(str(price["excl_vat"] if version == "2.2.1" else price["before_taxes"]))


def after_taxes(price: dict[str, Any], version: str) -> Decimal:
    if version == "2.2.1":
        return Decimal(str(price["incl_vat"]))
    return amount(price, version) + sum(Decimal(str(t["amount"])) for t in price["taxes"])


def volumes(cdr: dict[str, Any], kind: str) -> Decimal:
    return sum((Decimal(str(d["volume"])) for p in cdr["charging_periods"]
                for d in p["dimensions"] if d["type"] == kind), Decimal(0))


async def one_cdr(world: World, within: float = 30.0) -> dict[str, Any]:
    found = await eventually(lambda: list(world.emsp.cdrs.values()), within)
    assert found and len(found) == 1, world.emsp.cdrs
    return dict(found[0])


async def listed(world: World, query: str = "") -> tuple[list[dict[str, Any]], dict[str, str]]:
    url = f"{world.gateway.url}/ocpi/{world.emsp.ocpi_version}/cdrs{query}"
    status, body, headers = await world.emsp.call("GET", url)
    assert status == 200 and body["status_code"] == 1000, body
    return list(body["data"]), headers


def minutes(hours: Any) -> Decimal:
    """Hours on the wire (a JSON number) in minutes, to the microsecond."""
    return round(Decimal(str(hours)) * 60, 4)
