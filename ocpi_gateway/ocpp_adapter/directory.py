"""What is known of each charger's connection, wherever it is connected: online, which instance
holds it, its OCPP version, when it connected and last sent a frame, what its boot said.

An instance knows its own sessions; with Redis each owner also writes this to
``ocpp:{<cp>}:info`` (a hash, kept after the charger leaves: the last known values) when the
charger connects and at every presence refresh (a third of the presence TTL), so another
instance sees a remote charger's last message at most that late. Online means what command
routing means by it: a presence entry of a live instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocpi_gateway.ocpp_adapter.session import OcppSession


@dataclass(frozen=True, slots=True)
class ChargerPresence:
    charge_point_id: str
    online: bool
    instance_id: str | None = None
    ocpp_version: str | None = None
    connected_at: float | None = None
    """Epoch seconds of the current (or last known) connection."""
    last_message_at: float | None = None
    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None


def info_key(charge_point_id: str) -> str:
    return f"ocpp:{{{charge_point_id}}}:info"


def of_session(session: OcppSession, instance_id: str, *, online: bool = True
               ) -> ChargerPresence:
    boot = session.boot
    return ChargerPresence(
        charge_point_id=session.id, online=online, instance_id=instance_id,
        ocpp_version=session.version.value, connected_at=session.connected_at,
        last_message_at=session.last_message_at,
        vendor=boot.vendor if boot else None, model=boot.model if boot else None,
        firmware_version=boot.firmware_version if boot else None)


def info_fields(presence: ChargerPresence) -> dict[Any, Any]:
    """The info hash's fields (absent values left out)."""
    fields: dict[str, Any] = {
        "instance": presence.instance_id, "version": presence.ocpp_version,
        "connected_at": presence.connected_at, "last_message_at": presence.last_message_at,
        "vendor": presence.vendor, "model": presence.model,
        "firmware_version": presence.firmware_version}
    return {k: repr(v) if isinstance(v, float) else str(v)
            for k, v in fields.items() if v is not None}


def from_info(charge_point_id: str, raw: dict[Any, Any], *, online: bool) -> ChargerPresence:
    info = {(k.decode() if isinstance(k, bytes) else str(k)):
            (v.decode() if isinstance(v, bytes) else str(v)) for k, v in raw.items()}

    def number(name: str) -> float | None:
        try:
            return float(info[name]) if name in info else None
        except ValueError:
            return None

    return ChargerPresence(
        charge_point_id=charge_point_id, online=online, instance_id=info.get("instance"),
        ocpp_version=info.get("version"), connected_at=number("connected_at"),
        last_message_at=number("last_message_at"), vendor=info.get("vendor"),
        model=info.get("model"), firmware_version=info.get("firmware_version"))
