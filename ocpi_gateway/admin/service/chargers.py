"""Chargers: what chargers.yaml allows and what is known of each one's connection (online,
OCPP version, which instance holds it, when it last sent a frame), wherever it is connected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel

from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.ocpp_adapter.chargers_config import ChargersConfig
from ocpi_gateway.ocpp_adapter.directory import ChargerPresence

Describe = Callable[[Sequence[str]], Awaitable[dict[str, ChargerPresence]]]


class ChargerEvse(BaseModel):
    location_id: str
    evse_uid: str


class ChargerView(BaseModel):
    id: str
    online: bool
    ocpp_version: str | None
    """The version of its current (or last known) connection."""
    configured_version: str | None
    """chargers.yaml's ``ocpp_version``: the only one accepted; null: any."""
    security_profile: int
    instance_id: str | None
    """The gateway instance holding (or that last held) its connection."""
    connected_at: datetime | None
    last_message_at: datetime | None
    vendor: str | None
    model: str | None
    firmware_version: str | None
    reserve_whole_charger: bool
    """chargers.yaml's capability (the charger's own answer, read at boot, when it gave one:
    ``reservation_capabilities``)."""
    reservation_capabilities: dict[str, bool | None] = {}
    evses: list[ChargerEvse]


class ChargersPage(BaseModel):
    items: list[ChargerView]
    total: int
    online: int


def _at(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def charger_view(config: ChargersConfig, catalog: LocationsCatalog | None,
                 presence: ChargerPresence,
                 discovered: dict[str, bool | None] | None = None) -> ChargerView:
    charger = config.get(presence.charge_point_id)
    evses = catalog.evses_of_charger(presence.charge_point_id) if catalog is not None else []
    return ChargerView(
        id=presence.charge_point_id, online=presence.online,
        ocpp_version=presence.ocpp_version,
        configured_version=charger.ocpp_version.value if charger and charger.ocpp_version
        else None,
        security_profile=charger.security_profile if charger else 1,
        instance_id=presence.instance_id, connected_at=_at(presence.connected_at),
        last_message_at=_at(presence.last_message_at), vendor=presence.vendor,
        model=presence.model, firmware_version=presence.firmware_version,
        reserve_whole_charger=bool(charger and charger.capabilities.reserve_whole_charger),
        reservation_capabilities=discovered or {},
        evses=[ChargerEvse(location_id=lid, evse_uid=uid) for lid, uid in evses])


async def list_chargers(config: ChargersConfig, catalog: LocationsCatalog | None,
                        describe: Describe, *, online: bool | None = None,
                        ids: Sequence[str] | None = None,
                        discovered: dict[str, dict[str, bool | None]] | None = None
                        ) -> ChargersPage:
    """Every charger of chargers.yaml (or those of ``ids``)."""
    ids = list(ids) if ids is not None else [charger.id for charger in config.chargers]
    known = await describe(ids)
    views = [charger_view(config, catalog, known.get(cp) or ChargerPresence(cp, False),
                          (discovered or {}).get(cp)) for cp in ids]
    shown = [v for v in views if online is None or v.online is online]
    return ChargersPage(items=shown, total=len(views), online=sum(v.online for v in views))
