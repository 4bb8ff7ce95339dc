"""The internal CDR: what the gateway bills an eMSP for one finished session, or for a
reservation or booking that ended unused, in every supported OCPI version's terms. Stored
once, never changed (mod_cdrs: a CDR sent is corrected only by a Credit CDR); the version
packages (``ocpi/v*/cdrs.py``) turn it into each version's CDR."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.money import Price
from ocpi_gateway.sessions.models import (
    AuthMethod,
    CdrLocationInfo,
    HoldEnd,
    HoldKind,
    SessionToken,
    party_key,
)
from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import PricedPeriod

_TARIFFS_KEPT = 256
_tariff_docs: dict[tuple[str, datetime | None], tuple[Tariff, dict[str, Any]]] = {}


def tariff_doc(tariff: Tariff) -> dict[str, Any]:
    """``tariff.model_dump(mode="json")``, made once while an equal tariff comes back (most
    CDRs show one of a few tariffs; one changed by a reload under the same id and date is
    not equal). Shared by the documents: the store serialises them as they are."""
    key = (tariff.id, tariff.last_updated)
    cached = _tariff_docs.get(key)
    if cached is not None and (cached[0] is tariff or cached[0] == tariff):
        return cached[1]
    doc: dict[str, Any] = tariff.model_dump(mode="json")
    if len(_tariff_docs) >= _TARIFFS_KEPT:
        _tariff_docs.clear()
    _tariff_docs[key] = (tariff, doc)
    return doc


class CdrKind(StrEnum):
    SESSION = "SESSION"
    """A charging session (with the reservation or booking it began with, if any)."""
    RESERVATION = "RESERVATION"
    """A reservation or booking that ended unused: expired, or cancelled after the free
    cancellation window."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Cdr(_Model):
    id: str
    country_code: str
    party_id: str
    kind: CdrKind
    start_date_time: datetime
    end_date_time: datetime
    session_id: str | None = None
    booking_id: str | None = None
    token: SessionToken
    auth_method: AuthMethod
    authorization_reference: str | None = None
    location: CdrLocationInfo
    currency: str
    tariffs: tuple[Tariff, ...] = ()
    periods: tuple[PricedPeriod, ...]
    """The engine's periods (``tariff_id`` empty: none applies; ``cost`` not shown)."""
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Decimal
    total_energy_cost: Price | None = None
    total_time: Decimal
    total_time_cost: Price | None = None
    total_parking_time: Decimal | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: str | None = None
    credit: bool = False
    credit_reference_id: str | None = None
    last_updated: datetime
    # Gateway-only: what the CDR was made from, for queries and credits.
    hold_key: str | None = None
    hold_kind: HoldKind | None = None
    hold_end: HoldEnd | None = None
    charge_point_id: str | None = None
    ocpp_reservation_id: int | None = None

    @property
    def emsp_key(self) -> str:
        return party_key(self.token.country_code, self.token.party_id)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.model_dump(mode="json", exclude={"tariffs"})
        doc["tariffs"] = [tariff_doc(t) for t in self.tariffs]
        doc["emsp_key"] = self.emsp_key
        doc["last_updated_ts"] = self.last_updated.timestamp()
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Cdr:
        return cls.model_validate(doc)
