"""What every OCPI version package provides (``ocpi_gateway/ocpi/v*/``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from ocpi_gateway.cdrs.models import Cdr
from ocpi_gateway.commands.models import CommandBody, CommandType
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.hubclientinfo.models import ClientInfo
from ocpi_gateway.locations.published import PublishedLocation
from ocpi_gateway.partners.models import PartnerCredentials
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.sessions.figures import SessionFigures
from ocpi_gateway.sessions.models import Session
from ocpi_gateway.tariffs.models import Tariff
from ocpi_gateway.tariffs.pricing import PricedPeriod
from ocpi_gateway.tokens.models import LocationReferences, Token, TokenType


class LocationsMapping(Protocol):
    """A published Location (``locations/published.py``: the internal model with its live
    status) → this version's typed Location, EVSE, Connector."""

    def location(self, live: PublishedLocation) -> BaseModel: ...

    def evse(self, live: PublishedLocation, evse_uid: str) -> BaseModel | None:
        """None when the version cannot show that EVSE (e.g. only MCS connectors in 2.2.1)."""

    def connector(self, live: PublishedLocation, evse_uid: str,
                  connector_id: str) -> BaseModel | None: ...

    def evse_patch(self, status: EvseStatus, last_updated: str) -> BaseModel: ...

    def json(self, built: BaseModel) -> bytes:
        """A Location, EVSE or Connector built by this mapping, serialized as sent."""


class TokensMapping(Protocol):
    """Tokens as received from an eMSP in this version, and as answered to its GET."""

    def token_type(self, raw: str) -> TokenType | str:
        """The TokenType of a ``type`` parameter; ValueError when the version lacks it."""

    def to_internal(self, raw: Any) -> Token:
        """The internal Token; pydantic's ValidationError when ``raw`` is not one."""

    def from_internal(self, token: Token) -> BaseModel: ...

    def location_references(self, refs: LocationReferences) -> BaseModel:
        """The body of a real-time authorization asked at that location."""


class CommandsMapping(Protocol):
    def parse(self, command: str, raw: Any) -> tuple[CommandType, CommandBody] | None:
        """The internal command; None for a command this version names but we do not know
        (2.3.0 CommandType is open: answered NOT_SUPPORTED); UnknownCommand when the version
        has no such command; pydantic's ValidationError for a bad body."""


class CredentialsMapping(Protocol):
    def parse(self, raw: Any) -> PartnerCredentials:
        """A partner's Credentials; pydantic's ValidationError when ``raw`` is none."""

    def ours(self, settings: GatewaySettings, token: str, versions_url: str) -> BaseModel:
        """Our Credentials object in this version."""


class HubClientInfoMapping(Protocol):
    def to_internal(self, raw: Any) -> ClientInfo:
        """A ClientInfo a hub sent; pydantic's ValidationError when ``raw`` is none."""

    def from_internal(self, info: ClientInfo) -> BaseModel: ...


class TariffsMapping(Protocol):
    def tariff(self, tariff: Tariff) -> BaseModel | None:
        """This version's Tariff of a published one (country_code, party_id and last_updated
        set); None when the version cannot show it (2.2.1: only booking elements)."""


class SessionsMapping(Protocol):
    def session(self, session: Session, figures: SessionFigures) -> BaseModel:
        """The whole Session (a PUT, a GET); the session has a token."""

    def session_patch(self, session: Session, figures: SessionFigures,
                      new_periods: tuple[PricedPeriod, ...]) -> BaseModel:
        """A PATCH after a PUT: what may have changed, and the charging periods to add."""


class CdrsMapping(Protocol):
    def cdr(self, cdr: Cdr) -> BaseModel:
        """This version's CDR (a POST, a GET)."""

    def body(self, cdr: Cdr) -> dict[str, Any]:
        """``to_jsonable(self.cdr(cdr))``: the CDR as the outbox POSTs it."""


class UnknownCommand(ValueError):
    """The URL names a command the version does not define."""


@dataclass(frozen=True, slots=True)
class VersionPackage:
    number: str
    """The VersionNumber, e.g. ``2.2.1``."""
    locations: LocationsMapping
    tokens: TokensMapping
    commands: CommandsMapping
    credentials: CredentialsMapping
    hubclientinfo: HubClientInfoMapping
    tariffs: TariffsMapping
    sessions: SessionsMapping
    cdrs: CdrsMapping


def to_json(model: BaseModel) -> bytes:
    """A typed OCPI object as sent: the fields that were set, none that are None."""
    return model.__pydantic_serializer__.to_json(model, exclude_none=True, exclude_unset=True)


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    """The same, as JSON-ready values (the outbox stores its bodies as JSON documents)."""
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    return dumped
