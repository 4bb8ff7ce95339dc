"""What Tokens share across versions: the LocationReferences of a real-time authorization."""

from __future__ import annotations

from ocpi_gateway.ocpi.shared.objects import OcpiObject
from ocpi_gateway.tokens import models as internal


class LocationReferences(OcpiObject):
    """The body of POST {token_uid}/authorize (a real-time authorization)."""

    location_id: internal.CiString36
    evse_uids: list[internal.CiString36] | None = None


class SharedTokens:
    """The part of a version's TokensMapping that is the same in every version."""

    def location_references(self, refs: internal.LocationReferences) -> LocationReferences:
        return LocationReferences(location_id=refs.location_id,
                                  evse_uids=list(refs.evse_uids) or None)
