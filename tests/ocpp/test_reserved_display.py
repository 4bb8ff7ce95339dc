""""Reserved until HH:MM" on real OCPP 2.0.1 websocket chargers: shown, replaced, moved,
cleared; nothing for chargers not configured for it; across two instances sharing Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ocpp.v201 import call as call201
from ocpp_test_support import (
    PASSWORD_HASH,
    Behaviour,
    ChargerFactory,
    Connected,
    Gateway,
    chargers_config,
    start_gateway,
)
from pydantic import ValidationError

from ocpi_gateway.domain.charger_commands import CommandOutcome
from ocpi_gateway.domain.events import ChargerBooted
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.display import COLLECTION, ReservedDisplay, reserved_text
from ocpi_gateway.store import open_store
from ocpi_gateway.store.sqlite import SqliteStore

AMS = ZoneInfo("Europe/Amsterdam")
SUMMER = datetime(2026, 7, 1, 16, 30, tzinfo=UTC)  # 18:30 in Amsterdam (CEST)
WINTER = datetime(2026, 1, 15, 16, 30, tzinfo=UTC)  # 17:30 (CET)


def config() -> ChargersConfig:
    return chargers_config(chargers=[
        {"id": "CP-D1", "ocpp_version": "2.0.1", "password_hash": PASSWORD_HASH,
         "display": {"reserved": True, "text": "Gereserveerd tot {until}", "language": "nl"}},
        {"id": "CP-D2", "password_hash": PASSWORD_HASH, "display": {"reserved": True}},
        {"id": "CP-PLAIN", "ocpp_version": "2.0.1", "password_hash": PASSWORD_HASH},
    ])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'gw.db'}")
    assert isinstance(opened, SqliteStore)
    yield opened
    await opened.close()


async def connect(chargers: ChargerFactory, gw: Gateway, cp_id: str,
                  behaviour: Behaviour | None = None) -> Connected:
    cp = await chargers.connect(gw.url, cp_id, "2.0.1", behaviour=behaviour)
    await cp.charger.call(call201.BootNotification(
        charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"))
    await gw.events.wait_for(lambda e: isinstance(e, ChargerBooted)
                             and e.charge_point_id == cp_id)
    return cp


def sent(cp: Connected, action: str) -> list[dict[str, Any]]:
    return [p for a, p in cp.behaviour.received if a == action]


def test_the_text_is_the_end_in_the_site_time_zone() -> None:
    assert reserved_text("Reserved until {until}", SUMMER, AMS) == "Reserved until 18:30"
    assert reserved_text("Reserved until {until}", WINTER, AMS) == "Reserved until 17:30"
    assert reserved_text("{until}", SUMMER, UTC) == "16:30"


def test_the_chargers_file_refuses_a_display_it_cannot_have() -> None:
    with pytest.raises(ValidationError, match=r"needs OCPP 2\.0\.1"):
        chargers_config(chargers=[{"id": "CP-X", "ocpp_version": "1.6",
                                   "password_hash": "x", "display": {"reserved": True}}])
    with pytest.raises(ValidationError, match="only use"):
        chargers_config(chargers=[{"id": "CP-X", "password_hash": "x",
                                   "display": {"reserved": True, "text": "until {end}"}}])
    with pytest.raises(ValidationError):
        chargers_config(chargers=[{"id": "CP-X", "password_hash": "x",
                                   "display": {"reserved": True, "text": "until {"}}])
    default = chargers_config(chargers=[{"id": "CP-X", "password_hash": "x"}]).get("CP-X")
    assert default is not None and not default.display.reserved


async def test_shown_on_a_reservation_and_cleared_at_its_end(
        chargers: ChargerFactory, store: SqliteStore) -> None:
    gw = await start_gateway(chargers=config())
    try:
        cp = await connect(chargers, gw, "CP-D1")
        display = ReservedDisplay(config, gw.server.commands, store, timeout=5)
        outcome = await display.reserved("NL/EXA/R1", charge_point_id="CP-D1", evse_id=1,
                                         message_id=42, until=SUMMER, tz=AMS)
        assert outcome is CommandOutcome.ACCEPTED
        assert sent(cp, "SetDisplayMessage") == [{"message": {
            "id": 42, "priority": "NormalCycle",
            "message": {"format": "UTF8", "content": "Gereserveerd tot 18:30",
                        "language": "nl"},
            "end_date_time": "2026-07-01T16:30:00.000Z",
            "display": {"name": "DisplayMessageCtrlr", "evse": {"id": 1}}}}]
        # The end moved (a replacement on the same EVSE): the same id, the new time.
        await display.reserved("NL/EXA/R1", charge_point_id="CP-D1", evse_id=1,
                               message_id=42, until=WINTER, tz=AMS)
        assert sent(cp, "ClearDisplayMessage") == []
        assert sent(cp, "SetDisplayMessage")[1]["message"]["message"]["content"] == \
            "Gereserveerd tot 17:30"
        assert await display.released("NL/EXA/R1") is CommandOutcome.ACCEPTED
        assert sent(cp, "ClearDisplayMessage") == [{"id": 42}]
        assert await store.get(COLLECTION, "NL/EXA/R1") is None
        assert await display.released("NL/EXA/R1") is None  # nothing shown any more
        assert len(sent(cp, "ClearDisplayMessage")) == 1
    finally:
        await gw.close()


async def test_a_reservation_that_moves_clears_the_old_charger(
        chargers: ChargerFactory, store: SqliteStore) -> None:
    gw = await start_gateway(chargers=config())
    try:
        first = await connect(chargers, gw, "CP-D1")
        second = await connect(chargers, gw, "CP-D2")
        display = ReservedDisplay(config, gw.server.commands, store, timeout=5)
        await display.reserved("K", charge_point_id="CP-D1", evse_id=1, message_id=3,
                               until=SUMMER, tz=AMS)
        # A whole-charger reservation elsewhere: no EVSE display named, the default text.
        await display.reserved("K", charge_point_id="CP-D2", evse_id=None, message_id=9,
                               until=SUMMER, tz=AMS)
        assert sent(first, "ClearDisplayMessage") == [{"id": 3}]
        [shown] = sent(second, "SetDisplayMessage")
        assert shown["message"]["id"] == 9
        assert shown["message"]["display"] == {"name": "DisplayMessageCtrlr"}
        assert shown["message"]["message"] == {"format": "UTF8",
                                               "content": "Reserved until 18:30"}
        # Moved onto a charger that shows nothing: the old one is cleared all the same.
        plain = await connect(chargers, gw, "CP-PLAIN")
        assert await display.reserved("K", charge_point_id="CP-PLAIN", evse_id=1,
                                      message_id=4, until=SUMMER, tz=AMS) is None
        assert sent(second, "ClearDisplayMessage") == [{"id": 9}]
        assert plain.behaviour.received == []
        assert await display.released("K") is None
    finally:
        await gw.close()


async def test_a_refused_message_is_not_cleared_and_an_offline_clear_is_dropped(
        chargers: ChargerFactory, store: SqliteStore) -> None:
    gw = await start_gateway(chargers=config())
    try:
        cp = await connect(chargers, gw, "CP-D1", Behaviour(display="Rejected"))
        display = ReservedDisplay(config, gw.server.commands, store, timeout=5)
        assert await display.reserved("K1", charge_point_id="CP-D1", evse_id=1,
                                      message_id=1, until=SUMMER,
                                      tz=AMS) is CommandOutcome.REJECTED
        assert await display.released("K1") is None
        assert sent(cp, "ClearDisplayMessage") == []
        cp.behaviour.display = "Accepted"
        await display.reserved("K2", charge_point_id="CP-D1", evse_id=1, message_id=2,
                               until=SUMMER, tz=AMS)
        await cp.disconnect()
        # The charger drops the message at its end time by itself: nothing left to retry.
        assert await display.released("K2") is CommandOutcome.OFFLINE
        assert await store.get(COLLECTION, "K2") is None
    finally:
        await gw.close()


async def test_one_instance_shows_and_another_clears(
        chargers: ChargerFactory, store: SqliteStore, redis_url: str) -> None:
    a = await start_gateway(chargers=config(), redis_url=redis_url, instance_id="gw-a")
    b = await start_gateway(chargers=config(), redis_url=redis_url, instance_id="gw-b")
    try:
        cp = await connect(chargers, a, "CP-D1")
        on_b = ReservedDisplay(config, b.server.commands, store, timeout=5)
        await on_b.reserved("K", charge_point_id="CP-D1", evse_id=1, message_id=5,
                            until=SUMMER, tz=AMS)
        [shown] = sent(cp, "SetDisplayMessage")
        assert shown["message"]["end_date_time"] == "2026-07-01T16:30:00.000Z"
        on_a = ReservedDisplay(config, a.server.commands, store, timeout=5)
        assert await on_a.released("K") is CommandOutcome.ACCEPTED
        assert sent(cp, "ClearDisplayMessage") == [{"id": 5}]
    finally:
        await a.close()
        await b.close()
