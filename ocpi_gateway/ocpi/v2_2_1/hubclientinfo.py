"""OCPI 2.2.1 ClientInfo (mod_hub_client_info): Role includes HUB."""

from __future__ import annotations

from ocpi_gateway.hubclientinfo import models as internal
from ocpi_gateway.ocpi.shared.hubclientinfo import ClientInfoMapping
from ocpi_gateway.ocpi.v2_2_1.credentials import Role


class ClientInfo(internal.ClientInfo):
    role: Role  # the version's closed Role; internally a str


MAPPING = ClientInfoMapping(ClientInfo)
