"""The published Locations in the internal model: the operator's objects as the catalog holds
them, with the live ``status`` / ``last_updated`` the publisher keeps beside them.

Slotted objects that refer to the catalog's (validated, frozen) models instead of copies:
10,000 locations of 4 EVSEs cost a few MB on top of the catalog, where a JSON tree of each
cost hundreds. Every OCPI version's form is built from these at the seam
(``ocpi/v*/locations.py``); ``published_doc`` is their JSON form, as snapshots store it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ocpi_gateway.locations.models import (
    GATEWAY_ONLY_CONNECTOR_FIELDS,
    GATEWAY_ONLY_EVSE_FIELDS,
    EvseConfig,
    OperatorLocation,
)
from ocpi_gateway.reservation_policy.availability.base import EvseStatus


@dataclass(slots=True)
class PublishedEvse:
    config: EvseConfig
    """The operator's EVSE (an ``OperatorEvse`` of the catalog; for an EVSE gone from the file,
    what was last published of it)."""
    status: EvseStatus
    last_updated: str
    connectors_updated: str
    """The connectors' ``last_updated``: when the EVSE's configuration last changed."""


@dataclass(slots=True)
class PublishedLocation:
    config: OperatorLocation
    """The location's own fields (its ``evses`` are not read: ``evses`` below are published)."""
    evses: list[PublishedEvse]
    """The configured EVSEs in the file's order, then those gone from it (REMOVED)."""
    last_updated: str
    _by_uid: dict[str, PublishedEvse] | None = field(default=None, repr=False, compare=False)
    """``evses`` by uid, made at the first lookup (``evses`` is never changed once made): a
    walk over a location of 1,000 EVSEs for every status push grew with the EVSEs."""

    @property
    def id(self) -> str:
        return self.config.id

    def evse(self, uid: str) -> PublishedEvse | None:
        """The EVSE ``uid``, in any case (EVSE uids are CiStrings)."""
        by_uid = self._by_uid
        if by_uid is None:
            # The first of a uid wins, as a walk in order finds it.
            by_uid = self._by_uid = {e.config.uid: e for e in reversed(self.evses)}
        found = by_uid.get(uid)
        if found is not None:
            return found
        folded = uid.casefold()
        return next((e for e in self.evses if e.config.uid.casefold() == folded), None)


_CONTAINERS = (dict, list)


def _drop_empty(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a fresh dump: changed in place) without the keys whose value is an empty list,
    at any depth: OCPI lists that are empty are better left out than sent as [] (optional,
    card. *). Lists inside lists are kept, empty or not."""
    empty = None
    for key, value in doc.items():
        kind = type(value)
        if kind is list:
            if value:
                # A list holds one type (the models have no list of a union): one of strings
                # (capabilities, tariff_ids, facilities: most lists) is not walked.
                if type(value[0]) in _CONTAINERS:
                    _drop_empty_within(value)
            elif empty is None:
                empty = [key]
            else:
                empty.append(key)
        elif kind is dict:
            _drop_empty(value)
    if empty is not None:
        for key in empty:
            del doc[key]
    return doc


def _drop_empty_within(items: list[Any]) -> None:
    for item in items:
        kind = type(item)
        if kind is dict:
            _drop_empty(item)
        elif kind is list:
            _drop_empty_within(item)


_EVSE_EXCLUDED: dict[str, Any] = {
    **dict.fromkeys(GATEWAY_ONLY_EVSE_FIELDS, True),
    "connectors": {"__all__": dict.fromkeys(GATEWAY_ONLY_CONNECTOR_FIELDS, True)}}
_LOCATION_EXCLUDED: dict[str, Any] = {"evses": {"__all__": _EVSE_EXCLUDED}}


def _config_part(config: EvseConfig) -> dict[str, Any]:
    return _drop_empty(config.model_dump(mode="json", exclude_none=True, exclude=_EVSE_EXCLUDED))


@dataclass(slots=True)
class Dumped:
    """A catalog location's configuration in its JSON form (no live fields, no gateway-only
    fields, no empty lists), dumped in one call: its configuration digests and its published
    document are both made of it, where dumping it for each took most of a start's CPU
    (issue 13). Shared by what is made of it: never changed."""

    config: OperatorLocation
    own: dict[str, Any]
    """The location's own fields (no ``evses``)."""
    evses: dict[str, tuple[EvseConfig, dict[str, Any]]]
    """Per EVSE uid: the configuration dumped and its part of the EVSE's document."""


def dump(location: OperatorLocation) -> Dumped:
    own = _drop_empty(location.model_dump(mode="json", exclude_none=True,
                                          exclude=_LOCATION_EXCLUDED))
    parts = own.pop("evses", [])
    return Dumped(location, own, {evse.uid: (evse, part)
                                  for evse, part in zip(location.evses, parts, strict=True)})


def _own_part(config: OperatorLocation, dumped: Dumped | None) -> dict[str, Any]:
    if dumped is not None and dumped.config is config:
        return dict(dumped.own)
    return _drop_empty(config.model_dump(mode="json", exclude_none=True, exclude={"evses"}))


def _evse_part(config: EvseConfig, dumped: Dumped | None) -> dict[str, Any]:
    if dumped is not None:
        known = dumped.evses.get(config.uid)
        if known is not None and known[0] is config:
            return known[1]
    return _config_part(config)


@dataclass(slots=True)
class KeptEvse:
    """One EVSE's documents kept between two snapshots of a big location."""

    config: EvseConfig
    part: dict[str, Any]
    """Its configuration's part of its document."""
    live: tuple[EvseStatus, str, str]
    """The status, last_updated and connectors' last_updated ``doc`` was made with."""
    doc: dict[str, Any]


ConfigDocs = dict[str, KeptEvse]
"""Per EVSE uid: what ``published_doc`` made of it last time."""


def _evse_doc_from(config_part: dict[str, Any], evse: PublishedEvse) -> dict[str, Any]:
    # A new document around the shared configuration part: only what changes is new.
    doc = {**config_part, "connectors": [{**c, "last_updated": evse.connectors_updated}
                                         for c in config_part["connectors"]]}
    doc["status"] = evse.status.value
    doc["last_updated"] = evse.last_updated
    return doc


def published_doc(location: PublishedLocation, config_docs: ConfigDocs | None = None,
                  dumped: Dumped | None = None) -> dict[str, Any]:
    """The published Location as JSON in the internal model (what snapshots store).

    ``config_docs`` (filled here) keeps each EVSE's configuration part and document between
    two calls, so that a location of many EVSEs of which a few changed is not dumped whole
    again: an EVSE whose configuration object is new is dumped, one whose status or stamps
    moved gets a new document around its kept part, the others' documents are reused (a
    snapshot every 2 s of a 1,000-EVSE location made 1,000 new documents each time, more per
    reservation the slower the machine). The documents share those parts and are shared
    between calls: store them (or copy them) before changing anything in them. So do those
    made of ``dumped`` (the location's configuration dumped already, for what it holds)."""
    doc = _own_part(location.config, dumped)
    if location.evses:
        if config_docs is None:
            doc["evses"] = [_evse_doc_from(_evse_part(e.config, dumped), e)
                            for e in location.evses]
        else:
            kept = dict(config_docs)
            config_docs.clear()
            evses = []
            for e in location.evses:
                known = kept.get(e.config.uid)
                live = (e.status, e.last_updated, e.connectors_updated)
                if known is None or known.config is not e.config:
                    part = _evse_part(e.config, dumped)
                    known = KeptEvse(e.config, part, live, _evse_doc_from(part, e))
                elif known.live != live:
                    known.live, known.doc = live, _evse_doc_from(known.part, e)
                config_docs[e.config.uid] = known
                evses.append(known.doc)
            doc["evses"] = evses
    doc["last_updated"] = location.last_updated
    return doc


def from_doc(doc: dict[str, Any], current: OperatorLocation | None = None) -> PublishedLocation:
    """A published Location read back from its JSON form (a snapshot). ``current`` is the
    location in today's catalog: its objects are used for what it still has, so that only
    what the file no longer holds is validated again from the snapshot."""
    configured: dict[str, EvseConfig] = {e.uid: e for e in current.evses} if current else {}
    evses = []
    for raw in doc.get("evses", []):
        connectors = raw.get("connectors", [])
        config: EvseConfig | None = configured.get(raw["uid"])
        if config is None:
            config = EvseConfig.model_validate({
                **{k: v for k, v in raw.items() if k not in ("status", "last_updated")},
                "connectors": [{k: v for k, v in c.items() if k != "last_updated"}
                               for c in connectors]})
        stamps = [c["last_updated"] for c in connectors if "last_updated" in c]
        evses.append(PublishedEvse(config, EvseStatus(raw["status"]), raw["last_updated"],
                                   max(stamps, default=raw["last_updated"])))
    if current is None:
        current = OperatorLocation.model_validate(
            {k: v for k, v in doc.items() if k not in ("evses", "last_updated")})
    return PublishedLocation(current, evses, doc["last_updated"])
