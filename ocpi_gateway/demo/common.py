"""What every act of the demo shares: the narrator, the failure a step raises, the gateway's
settings from the demo alone, time formats."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ocpi_gateway.config import GatewaySettings

Out = Callable[[str], None]


class DemoFailed(Exception):
    """A step did not happen as it should: the message says which and why."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def clock_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S UTC")


class DemoSettings(GatewaySettings):
    """Settings from the demo alone: OCPI_GATEWAY_* variables meant for a real deployment
    (a Redis URL, a MongoDB store) must not leak into it."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def bound_socket() -> socket.socket:
    # Bound before the settings are made, so the port the gateway announces is surely ours.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Narrator:
    out: Out
    step: int = 0

    def title(self, text: str) -> None:
        self.step += 1
        self.out("")
        self.out(f"[{self.step}] {text}")

    def say(self, text: str) -> None:
        self.out(f"    {text}")
