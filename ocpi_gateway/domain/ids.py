"""Identifiers shared by the OCPI side, the OCPP side and the reservation policy."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

ChargePointId = NewType("ChargePointId", str)
"""The OCPP identity a charger connects with (last path segment of its websocket URL)."""

OCPP16_ID_TAG_MAX = 20


class OcppVersion(StrEnum):
    V16 = "1.6"
    V201 = "2.0.1"


@dataclass(frozen=True, slots=True)
class ChargerAddress:
    """Where on a charger something happens.

    ``evse_id`` is the OCPP 2.0.1 evseId (None for OCPP 1.6, which has no EVSE level, and for
    a charger-wide target). ``connector_id`` is the 1.6 connectorId or the 2.0.1 connectorId
    within the EVSE (None when the whole EVSE, or the whole charger, is meant).
    """

    charge_point_id: str
    evse_id: int | None = None
    connector_id: int | None = None


def ocpp16_id_tag(token_uid: str) -> str:
    """The idTag a 1.6 charger knows an OCPI token uid by.

    OCPP 1.6 idTags hold at most 20 characters; OCPI token uids up to 36. An ISO 14443 card UID
    is 4, 7 or 10 bytes, i.e. at most 20 hex characters, so a physical card always fits and is
    sent unchanged: the driver's card still matches at the charger. Longer uids are never read
    from a card (app users, contract ids); they are replaced by a stable 20-character digest so
    that a reservation and a remote start made for the same token carry the same idTag.
    """
    if len(token_uid) <= OCPP16_ID_TAG_MAX:
        return token_uid
    digest = hashlib.sha256(token_uid.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii")[:OCPP16_ID_TAG_MAX]


def presents(token_uid: str, presented: str) -> bool:
    """Whether an id token a charger presented is the OCPI token ``token_uid``:
    case-insensitive, as OCPP id tokens are, and a 1.6 charger knows a long uid by its
    :func:`ocpp16_id_tag`."""
    wanted = presented.casefold()
    return wanted in (token_uid.casefold(), ocpp16_id_tag(token_uid).casefold())
