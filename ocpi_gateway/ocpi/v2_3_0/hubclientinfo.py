"""OCPI 2.3.0 ClientInfo: Role without HUB (a hub is no role in 2.3.0)."""

from __future__ import annotations

from ocpi_gateway.hubclientinfo import models as internal
from ocpi_gateway.ocpi.shared.hubclientinfo import ClientInfoMapping
from ocpi_gateway.ocpi.v2_3_0.credentials import Role


class ClientInfo(internal.ClientInfo):
    role: Role  # the version's closed Role; internally a str


MAPPING = ClientInfoMapping(ClientInfo)
