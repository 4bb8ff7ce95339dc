"""OCPI 2.3.0: typed objects and their mapping to and from the internal model."""

from __future__ import annotations

from ocpi_gateway.ocpi.seam import VersionPackage
from ocpi_gateway.ocpi.v2_3_0 import (
                          cdrs,
                          commands,
                          credentials,
                          hubclientinfo,
                          locations,
                          sessions,
                          tariffs,
                          tokens,
)

PACKAGE = VersionPackage(number="2.3.0", locations=locations.MAPPING,
                          tokens=tokens.MAPPING, commands=commands.MAPPING,
                          credentials=credentials.MAPPING,
                          hubclientinfo=hubclientinfo.MAPPING,
                          tariffs=tariffs.MAPPING,
                          sessions=sessions.MAPPING,
                          cdrs=cdrs.MAPPING)
