"""``ocpi_gateway.domain.charger_commands.ChargerCommands`` implementations.

- :class:`ocpi_gateway.ocpp_adapter.routing.local.LocalChargerCommands`: one process, in memory.
- :class:`ocpp_adapter.routing.redis.RedisChargerCommands`: several processes sharing Redis
  (which process holds each charger: :class:`ocpp_adapter.routing.presence.RedisPresence`).

Both also learn of connections coming and going (:class:`ConnectionObserver`), so the Redis
one can announce presence.
"""

from __future__ import annotations

from typing import Protocol

from ocpi_gateway.domain.charger_commands import ChargerCommands, ChargerQueries


class ConnectionObserver(Protocol):
    async def charger_connected(self, charge_point_id: str) -> None: ...

    async def charger_disconnected(self, charge_point_id: str) -> None: ...


class RoutedCommands(ChargerCommands, ChargerQueries, ConnectionObserver, Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...
