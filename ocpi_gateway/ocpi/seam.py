"""What every OCPI version package provides (``ocpi_gateway/ocpi/v*/``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

PublishedDoc = Mapping[str, Any]
"""A published Location in the internal model's JSON form: the operator's fields (all that any
version can hold) plus the live ``status`` / ``last_updated`` the publisher keeps."""


class LocationsMapping(Protocol):
    """Internal published Location → this version's typed Location, EVSE, Connector."""

    def location(self, doc: PublishedDoc) -> BaseModel: ...

    def evse(self, doc: PublishedDoc, evse_uid: str) -> BaseModel | None:
        """None when the version cannot show that EVSE (e.g. only MCS connectors in 2.2.1)."""

    def connector(self, doc: PublishedDoc, evse_uid: str, connector_id: str) -> BaseModel | None:
        ...

    def evse_patch(self, status: str, last_updated: str) -> BaseModel: ...


@dataclass(frozen=True, slots=True)
class VersionPackage:
    number: str
    """The VersionNumber, e.g. ``2.2.1``."""
    locations: LocationsMapping


def to_json(model: BaseModel) -> bytes:
    """A typed OCPI object as sent: the fields that were set, none that are None."""
    return model.__pydantic_serializer__.to_json(model, exclude_none=True, exclude_unset=True)


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    """The same, as JSON-ready values (the outbox stores its bodies as JSON documents)."""
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True, exclude_unset=True)
    return dumped
