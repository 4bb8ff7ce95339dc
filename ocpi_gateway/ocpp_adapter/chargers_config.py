"""``config/chargers.yaml``: which chargers may connect, how they authenticate, what they can do."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.domain.operator_file import (
    ItemNames,
    OperatorFileError,
    describe_validation_error,
    read_yaml,
)


class ChargersConfigError(OperatorFileError):
    """The chargers file is unreadable or invalid; the message names the file and the key."""


class ChargerCapabilities(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reserve_whole_charger: bool = Field(
        default=False,
        description="accepts a reservation of no particular EVSE: 1.6 ReserveConnectorZero"
        "Supported, 2.0.1 ReservationNonEvseSpecific",
    )


class DisplaySettings(BaseModel):
    """What the charger's display shows while it is reserved (OCPP 2.0.1 DisplayMessageCtrlr)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reserved: bool = Field(
        default=False,
        description="while a reservation or booking is active on the charger, show `text` "
        "(SetDisplayMessage), cleared at its end (ClearDisplayMessage); 2.0.1 chargers with "
        "a DisplayMessageCtrlr only",
    )
    text: str = Field(
        default="Reserved until {until}", min_length=1, max_length=480,
        description="{until}: the reservation's end, HH:MM in the site's time zone",
    )
    language: str | None = Field(default=None, max_length=8,
                                 description="RFC 5646 code the charger is told (e.g. en, nl)")

    @model_validator(mode="after")
    def _only_until(self) -> DisplaySettings:
        fields = {name for _, name, _, _ in string.Formatter().parse(self.text)
                  if name is not None}
        if fields - {"until"}:
            raise ValueError(f"text may only use {{until}}, not {sorted(fields - {'until'})}")
        return self


class ChargerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9*\-_=:+|@.]+$")
    ocpp_version: OcppVersion | None = Field(
        default=None, description="the only version accepted; any supported one when absent"
    )
    security_profile: Literal[1, 2] = 1
    password_hash: str = Field(
        min_length=1, description="see ocpp_adapter.auth.hash_password / CLI chargers hash-password"
    )
    capabilities: ChargerCapabilities = ChargerCapabilities()
    display: DisplaySettings = DisplaySettings()

    @model_validator(mode="after")
    def _display_needs_201(self) -> ChargerConfig:
        if self.display.reserved and self.ocpp_version is OcppVersion.V16:
            raise ValueError("display.reserved needs OCPP 2.0.1 (1.6 has no display messages)")
        return self


class ChargersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trust_forwarded_proto: bool = Field(
        default=False,
        description="a reverse proxy in front sets X-Forwarded-Proto (TLS there counts as "
        "security profile 2) and X-Forwarded-For (rate limiting per charger address)",
    )
    chargers: list[ChargerConfig] = Field(default_factory=list)
    _by_id: dict[str, ChargerConfig] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique_ids(self) -> ChargersConfig:
        seen: set[str] = set()
        for charger in self.chargers:
            if charger.id in seen:
                raise ValueError(f"charger id {charger.id!r} appears twice")
            seen.add(charger.id)
        return self

    def model_post_init(self, __context: object) -> None:
        self._by_id = {charger.id: charger for charger in self.chargers}

    def get(self, charge_point_id: str) -> ChargerConfig | None:
        return self._by_id.get(charge_point_id)

    def capabilities(self, charge_point_id: str) -> ChargerCapabilities | None:
        charger = self._by_id.get(charge_point_id)
        return charger.capabilities if charger else None


def load_chargers(path: Path | str | None) -> ChargersConfig:
    """Read the chargers file; no file means no charger may connect."""
    if path is None:
        return ChargersConfig()
    source = Path(path)
    raw = read_yaml(source, ChargersConfigError, empty={})
    try:
        return ChargersConfig.model_validate(raw)
    except ValidationError as exc:
        raise ChargersConfigError(describe_validation_error(
            source, raw, exc, model=ChargersConfig,
            items={"chargers": ItemNames("charger")})) from exc
