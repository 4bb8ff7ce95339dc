"""Commands to chargers connected to this very process."""

from __future__ import annotations

from ocpi_gateway.domain.charger_commands import ChargerCommand, CommandOutcome, CommandReply
from ocpi_gateway.ocpp_adapter.registry import ConnectionRegistry


class LocalChargerCommands:
    def __init__(self, registry: ConnectionRegistry) -> None:
        self.registry = registry

    async def execute(
        self, command: ChargerCommand, timeout: float  # noqa: ASYNC109 (protocol)
    ) -> CommandOutcome:
        session = self.registry.get(command.charge_point_id)
        if session is None:
            return CommandOutcome.OFFLINE
        return await session.execute(command, timeout)

    async def ask(
        self, command: ChargerCommand, timeout: float  # noqa: ASYNC109 (protocol)
    ) -> CommandReply:
        session = self.registry.get(command.charge_point_id)
        if session is None:
            return CommandReply(outcome=CommandOutcome.OFFLINE)
        return await session.ask(command, timeout)

    async def is_online(self, charge_point_id: str) -> bool:
        session = self.registry.get(charge_point_id)
        return session is not None and not session.is_closed

    async def charger_connected(self, charge_point_id: str) -> None:
        return None

    async def charger_disconnected(self, charge_point_id: str) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
