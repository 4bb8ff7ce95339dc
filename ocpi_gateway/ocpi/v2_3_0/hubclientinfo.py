"""OCPI 2.3.0 ClientInfo: Role without HUB (a hub is no role in 2.3.0)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from ocpi_gateway.hubclientinfo import models as internal
from ocpi_gateway.ocpi.v2_3_0.credentials import Role


class ClientInfo(internal.ClientInfo):
    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Role  # the version's closed Role; internally a str


class Mapping230:
    def to_internal(self, raw: Any) -> internal.ClientInfo:
        return internal.ClientInfo.model_validate(ClientInfo.model_validate(raw).model_dump())

    def from_internal(self, info: internal.ClientInfo) -> ClientInfo:
        return ClientInfo.model_validate(info.model_dump())


MAPPING = Mapping230()
