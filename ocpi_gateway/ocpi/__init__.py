"""The version seam: one package per OCPI version, each holding that version's typed objects
and their mapping to and from the internal model (``locations/models.py``,
``tokens/models.py``, ``commands/models.py``, ``partners/models.py``).

Handlers, the Locations read model and pushes, and the outbox never build an OCPI body
themselves: they ask ``package(version)`` for the version a partner negotiated. OCPI 3.0 is
one more folder (``v3_0``) and one more line in ``_PACKAGES``.
"""

from __future__ import annotations

from ocpi_gateway.ocpi.seam import VersionPackage
from ocpi_gateway.ocpi.v2_2_1 import PACKAGE as V2_2_1
from ocpi_gateway.ocpi.v2_3_0 import PACKAGE as V2_3_0

_PACKAGES: dict[str, VersionPackage] = {p.number: p for p in (V2_2_1, V2_3_0)}

KNOWN_VERSIONS: tuple[str, ...] = tuple(_PACKAGES)
"""Every version a package exists for, oldest first."""

DEFAULT_VERSION = V2_2_1.number
"""What a partner registered before versions were recorded per partner speaks."""


def package(version: str | None) -> VersionPackage:
    """The package of ``version`` (a partner's negotiated version; None: the default)."""
    found = _PACKAGES.get(version or DEFAULT_VERSION)
    if found is None:
        raise KeyError(f"no OCPI package for version {version}")
    return found


__all__ = ["DEFAULT_VERSION", "KNOWN_VERSIONS", "VersionPackage", "package"]
