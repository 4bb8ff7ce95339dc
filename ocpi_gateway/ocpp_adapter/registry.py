"""The chargers connected to this process, by identity."""

from __future__ import annotations

from collections.abc import Iterator

from ocpi_gateway.ocpp_adapter.session import OcppSession


class ConnectionRegistry:
    def __init__(self) -> None:
        self._sessions: dict[str, OcppSession] = {}

    def register(self, session: OcppSession) -> OcppSession | None:
        """Make ``session`` the charger's connection; returns the one it replaces."""
        previous = self._sessions.get(session.id)
        self._sessions[session.id] = session
        return previous if previous is not session else None

    def unregister(self, session: OcppSession) -> bool:
        """Forget ``session`` if it is still the charger's connection (not replaced)."""
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            return True
        return False

    def get(self, charge_point_id: str) -> OcppSession | None:
        return self._sessions.get(charge_point_id)

    def __contains__(self, charge_point_id: object) -> bool:
        return charge_point_id in self._sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[OcppSession]:
        return iter(list(self._sessions.values()))
